"""Where the series coefficients in fastrelu/cpu/vecmath.py come from.

    python perf/fit_vecmath.py

Prints, from mpmath at 50 digits:

* the 32 Chebyshev coefficients of erfcx(x) = exp(x^2) erfc(x) on [1, 6] in
  u = (2x - 7) / 5 (float64 erf, evaluated by Clenshaw's recurrence);
* for float32 erf: a polynomial in z = x^2 for erf(x) / x on [0, 1], fitted by
  least squares in relative error at Chebyshev nodes (close to the minimax
  polynomial), and erfcx on [1, 4] as a polynomial in u = (2x - 5) / 3
  (its Chebyshev series to degree 13, rewritten in powers of u for Horner's
  rule, whose chain of dependent operations is half Clenshaw's);

* for float32 tanh, expm1(r) = r + r^2 P(r) on |r| <= ln(2)/2 with P of
  degree 6, fitted by least squares in relative error at Chebyshev nodes;
* for float64 exp and expm1, the same on |r| <= 0.5 with P of degree 11,
  fitted in mpmath's arithmetic (float64's would lose the last digits);

* for float32 gelu, Phi(-y) exp(y^2 / 2) (y + 3) as a polynomial in
  t = (y - 3) / (y + 3), and for float64 gelu the same with y + 5, as 24
  Chebyshev coefficients (evaluated by Clenshaw's recurrence);

each with its largest relative error on a fine grid, in float64 arithmetic.
"""

import mpmath
import numpy as np
from numpy.polynomial import chebyshev

mpmath.mp.dps = 50


def erfcx(x):
    return mpmath.exp(x * x) * mpmath.erfc(x)


def chebyshev_coefficients(f, a, b, count):
    """The first ``count`` Chebyshev coefficients of f on [a, b], from f at
    count + 10 Chebyshev nodes."""
    n = count + 10
    angles = [mpmath.pi * (j + mpmath.mpf(0.5)) / n for j in range(n)]
    values = [f((b - a) / 2 * mpmath.cos(t) + (a + b) / 2) for t in angles]
    out = [2 * sum(v * mpmath.cos(k * t) for v, t in zip(values, angles)) / n for k in range(count)]
    out[0] /= 2
    return [float(c) for c in out]


def erf_over_x_polynomial(degree, nodes=2000):
    """c[0] + c[1] z + ... ~ erf(x) / x, z = x^2 in [0, 1]."""
    z = (np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes) + 1) / 2
    exact = np.array([float(mpmath.erf(mpmath.sqrt(v)) / mpmath.sqrt(v)) if v > 0 else
                      float(2 / mpmath.sqrt(mpmath.pi)) for v in z])
    weights = 1 / exact
    matrix = np.vander(z, degree + 1, increasing=True) * weights[:, None]
    coefficients, *_ = np.linalg.lstsq(matrix, exact * weights, rcond=None)
    return coefficients


def expm1_polynomial(degree, nodes=3000):
    """c[0] + c[1] r + ... ~ (expm1(r) - r) / r^2, |r| <= ln(2)/2, weighted so
    that the relative error of r + r^2 P(r) is what is minimised."""
    half = float(mpmath.log(2) / 2)
    r = half * np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)
    exact = np.array([float(mpmath.expm1(mpmath.mpf(float(v)))) for v in r])
    tail = np.array([float((mpmath.expm1(mpmath.mpf(float(v))) - v) / mpmath.mpf(float(v)) ** 2)
                     for v in r])
    weights = r * r / np.abs(exact)
    matrix = np.vander(r, degree + 1, increasing=True) * weights[:, None]
    coefficients, *_ = np.linalg.lstsq(matrix, tail * weights, rcond=None)
    return coefficients


def expm1_polynomial_mp(degree, half=0.5, nodes=36):
    """As expm1_polynomial, solved in mpmath at 40 digits."""
    with mpmath.workdps(40):
        r = [half * mpmath.cos(mpmath.pi * (j + mpmath.mpf(0.5)) / nodes) for j in range(nodes)]
        matrix, target = mpmath.matrix(nodes, degree + 1), mpmath.matrix(nodes, 1)
        for i, v in enumerate(r):
            exact = mpmath.expm1(v)
            weight = v * v / abs(exact)
            for k in range(degree + 1):
                matrix[i, k] = weight * v ** k
            target[i] = weight * (exact - v) / (v * v)
        solution = mpmath.qr_solve(matrix, target)[0]
        return [float(solution[k]) for k in range(degree + 1)]


def normal_tail(y):
    """M(y) = Phi(-y) exp(y^2 / 2)."""
    return mpmath.erfc(y / mpmath.sqrt(2)) / 2 * mpmath.exp(y * y / 2)


def normal_tail_polynomial(degree, k=3, top=14.5, nodes=2000):
    """c[0] + c[1] t + ... ~ M(y) (y + k), t = (y - k) / (y + k), y in [0, top]."""
    low, high = -1.0, (top - k) / (top + k)
    t = (high - low) / 2 * np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes) + (high + low) / 2
    y = k * (1 + t) / (1 - t)
    exact = np.array([float(normal_tail(mpmath.mpf(float(v))) * (v + k)) for v in y])
    matrix = np.vander(t, degree + 1, increasing=True) / exact[:, None]
    coefficients, *_ = np.linalg.lstsq(matrix, np.ones_like(exact), rcond=None)
    return coefficients


def normal_tail_chebyshev(count, k=5, top=38.6):
    """Chebyshev coefficients of M(y) (y + k) in u, the map of t = (y - k) / (y + k)
    from [-1, (top - k) / (top + k)] onto [-1, 1], for y in [0, top]."""
    def f(t):
        y = k * (1 + t) / (1 - t)
        return normal_tail(y) * (y + k)
    return chebyshev_coefficients(f, -1, (top - k) / (top + k), count)


def clenshaw(coefficients, u):
    """sum c[j] T_j(u) in float64, as cpu/vecmath.py evaluates it."""
    b1, b2 = np.zeros_like(u), np.zeros_like(u)
    for c in coefficients[:0:-1]:
        b1, b2 = 2 * u * b1 - b2 + c, b1
    return u * b1 - b2 + coefficients[0]


def max_relative_error(approx, exact, grid):
    values = np.array([float(exact(mpmath.mpf(float(v)))) for v in grid])
    return float(np.max(np.abs(approx(grid) - values) / np.abs(values)))


def main():
    float64_erfcx = chebyshev_coefficients(erfcx, 1, 6, 32)
    print("erfcx on [1, 6], Chebyshev in u = (2x - 7) / 5:", float64_erfcx)

    erf_small = erf_over_x_polynomial(6)
    grid = np.linspace(1e-4, 1, 20001)
    error = max_relative_error(lambda x: x * np.polyval(erf_small[::-1], x * x), mpmath.erf, grid)
    print("erf(x) / x on [0, 1], powers of x^2:", [float(c) for c in erf_small],
          f"max relative error {error:.2e}")

    erfcx_cheb = chebyshev_coefficients(erfcx, 1, 4, 14)
    erfcx_powers = chebyshev.cheb2poly(erfcx_cheb)
    grid = np.linspace(1, 4, 20001)
    error = max_relative_error(lambda x: np.polyval(erfcx_powers[::-1], (2 * x - 5) / 3), erfcx, grid)
    print("erfcx on [1, 4], powers of u = (2x - 5) / 3:", [float(c) for c in erfcx_powers],
          f"max relative error {error:.2e}")

    expm1_tail = expm1_polynomial(6)
    half = float(mpmath.log(2) / 2)
    grid = np.linspace(-half, half, 20000)  # an even count: 0 is not on it
    error = max_relative_error(lambda r: r + r * r * np.polyval(expm1_tail[::-1], r), mpmath.expm1,
                               grid)
    print("(expm1(r) - r) / r^2 on |r| <= ln(2)/2, powers of r:", [float(c) for c in expm1_tail],
          f"max relative error {error:.2e}")

    expm1_fit = expm1_polynomial_mp(11)
    grid = np.linspace(-0.5, 0.5, 20000)
    error = max_relative_error(lambda r: r + r * r * np.polyval(expm1_fit[::-1], r), mpmath.expm1,
                               grid)
    print("(expm1(r) - r) / r^2 on |r| <= 0.5, powers of r:", expm1_fit,
          f"max relative error in float64 arithmetic {error:.2e}")

    tail = normal_tail_polynomial(9)
    grid = np.linspace(0, 14.5, 20001)
    error = max_relative_error(lambda y: np.polyval(tail[::-1], (y - 3) / (y + 3)) / (y + 3),
                               normal_tail, grid)
    print("Phi(-y) exp(y^2 / 2) (y + 3) on [0, 14.5], powers of t = (y - 3) / (y + 3):",
          [float(c) for c in tail], f"max relative error {error:.2e}")

    tail64 = normal_tail_chebyshev(24)
    high = (38.6 - 5) / (38.6 + 5)

    def tail64_approx(y):
        t = (y - 5) / (y + 5)
        return clenshaw(tail64, (2 * t - (high - 1)) / (high + 1)) / (y + 5)
    grid = np.linspace(0, 38.6, 20001)
    error = max_relative_error(tail64_approx, normal_tail, grid)
    print("Phi(-y) exp(y^2 / 2) (y + 5) on [0, 38.6], Chebyshev in the map of",
          "t = (y - 5) / (y + 5) onto [-1, 1]:", tail64, f"max relative error {error:.2e}")


if __name__ == "__main__":
    main()
