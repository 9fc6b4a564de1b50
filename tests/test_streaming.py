"""relu and its gradient on large arrays with non-temporal stores: the same
bits as the loops."""

import numpy as np
import pytest

import fastrelu
from fastrelu.cpu import streaming
from fastrelu.definitions import BUILTIN

pytestmark = pytest.mark.skipif(not streaming._X86, reason="streaming stores are x86-64 only")

SPECIALS = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-310, -1e-310, 3.0, -3.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0, 1, 5])  # out's start: aligned or not
def test_streamed_relu_equals_the_loop_bit_for_bit(dtype, offset):
    n = streaming.SMALLEST // np.dtype(dtype).itemsize + 4099  # a partial last block
    x = np.random.default_rng(0).standard_normal(n + offset).astype(dtype)[offset:]
    x[:len(SPECIALS)] = SPECIALS
    x[-len(SPECIALS):] = SPECIALS
    out = np.empty(n + offset, dtype)[offset:]
    assert streaming.applies(BUILTIN["relu"], "forward", [x], out)
    result = fastrelu.relu(x, out=out)  # auto: parallel, streamed
    assert result is out
    expected = fastrelu.relu(x, out=np.empty_like(x), backend="numba")
    bits = f"u{np.dtype(dtype).itemsize}"
    np.testing.assert_array_equal(result.view(bits), expected.view(bits))
    np.testing.assert_array_equal(fastrelu.relu(x).view(bits), expected.view(bits))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0, 3])
def test_streamed_relu_backward_equals_the_loop_bit_for_bit(dtype, offset):
    n = streaming.SMALLEST // np.dtype(dtype).itemsize + 4099
    rng = np.random.default_rng(3)
    x = rng.standard_normal(n + offset).astype(dtype)[offset:]
    grad = rng.standard_normal(n).astype(dtype)
    x[:len(SPECIALS)] = SPECIALS  # NaN x passes grad, -0 and +0 give 0
    grad[-len(SPECIALS):] = SPECIALS  # grad's own specials pass where x > 0
    out = np.empty(n + offset, dtype)[offset:]
    assert streaming.applies(BUILTIN["relu"], "backward", [grad, x], out)
    result = fastrelu.relu_backward(grad, x, out=out)  # auto: parallel, streamed
    assert result is out
    expected = fastrelu.relu_backward(grad, x, out=np.empty_like(x), backend="numba")
    bits = f"u{np.dtype(dtype).itemsize}"
    np.testing.assert_array_equal(result.view(bits), expected.view(bits))
    np.testing.assert_array_equal(fastrelu.relu_backward(grad, x).view(bits), expected.view(bits))
    in_place = grad.copy()  # in place over grad: not streamed, the same bits
    assert not streaming.applies(BUILTIN["relu"], "backward", [in_place, x], in_place)
    fastrelu.relu_backward(in_place, x, out=in_place)
    np.testing.assert_array_equal(in_place.view(bits), expected.view(bits))


def test_only_large_out_of_place_float_relu_streams():
    relu = BUILTIN["relu"]
    big = np.ones(streaming.SMALLEST // 4, np.float32)
    assert streaming.applies(relu, "forward", [big], np.empty_like(big))
    assert not streaming.applies(relu, "forward", [big], big)  # in place
    assert streaming.applies(relu, "backward", [big, big], np.empty_like(big))
    assert not streaming.applies(relu, "backward", [big, big], big)
    assert not streaming.applies(relu, "backward", [big.astype(np.float64), big],
                                  np.empty_like(big))
    assert not streaming.applies(BUILTIN["leaky_relu"], "backward", [big, big],
                                  np.empty_like(big))
    assert not streaming.applies(BUILTIN["leaky_relu"], "forward", [big], np.empty_like(big))
    small = big[:-1]
    assert not streaming.applies(relu, "forward", [small], np.empty_like(small))
    strided = np.ones(2 * big.size, np.float32)[::2]
    assert not streaming.applies(relu, "forward", [strided], np.empty_like(strided))
    matrix = big.reshape(1024, -1)
    assert streaming.applies(relu, "forward", [matrix], np.empty_like(matrix))
    np.testing.assert_array_equal(fastrelu.relu(matrix), matrix)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0, 1, 5])
def test_streamed_relu_mask_equals_the_loop_bit_for_bit(dtype, offset):
    n = streaming.SMALLEST // np.dtype(dtype).itemsize + 4099  # a partial last chunk and byte
    x = np.random.default_rng(1).standard_normal(n + offset).astype(dtype)[offset:]
    x[:len(SPECIALS)] = SPECIALS
    x[-len(SPECIALS):] = SPECIALS
    lead = 16 // np.dtype(dtype).itemsize
    out = np.empty(n + lead, dtype)[lead:]  # 16-byte aligned, as it must be; x is not
    assert streaming.applies_to_mask(out)
    y, mask = fastrelu.relu_mask(x, out=out, backend="numba-parallel")
    want_y, want_mask = fastrelu.relu_mask(x, backend="numba")
    bits = f"u{np.dtype(dtype).itemsize}"
    np.testing.assert_array_equal(y.view(bits), want_y.view(bits))
    np.testing.assert_array_equal(mask, want_mask)
    np.testing.assert_array_equal(mask, np.packbits(x > 0, bitorder="little"))
    in_place = x.copy()
    _, in_place_mask = fastrelu.relu_mask(in_place, out=in_place, backend="numba-parallel")
    np.testing.assert_array_equal(in_place.view(bits), want_y.view(bits))
    np.testing.assert_array_equal(in_place_mask, want_mask)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("out_at", [0, "element"])  # out's address mod 16
def test_streamed_relu_backward_mask_equals_the_loop_bit_for_bit(dtype, out_at):
    n = streaming.SMALLEST // np.dtype(dtype).itemsize + 4099  # a partial last byte
    rng = np.random.default_rng(4)
    grad = rng.standard_normal(n + 1).astype(dtype)[1:]  # grad itself misaligned
    grad[:len(SPECIALS)] = SPECIALS
    x = rng.standard_normal(n).astype(dtype)
    _, mask = fastrelu.relu_mask(x, backend="numba")
    remainder = 0 if out_at == 0 else np.dtype(dtype).itemsize
    buffer = np.empty(grad.nbytes + 32, np.uint8)
    start = (remainder - buffer.ctypes.data) % 16
    out = buffer[start:start + grad.nbytes].view(dtype)
    bits = f"u{np.dtype(dtype).itemsize}"
    assert streaming.applies_to_mask_backward(out.view(bits)) == (out_at == 0)
    result = fastrelu.relu_backward_mask(grad, mask, out=out, backend="numba-parallel")
    expected = fastrelu.relu_backward_mask(grad, mask, backend="numba")
    np.testing.assert_array_equal(result.view(bits), expected.view(bits))
    np.testing.assert_array_equal(expected, np.where(x > 0, grad, 0).astype(dtype))
    in_place = grad.copy()  # over grad: the plain loop, the same bits
    fastrelu.relu_backward_mask(in_place, mask, out=in_place, backend="numba-parallel")
    np.testing.assert_array_equal(in_place.view(bits), expected.view(bits))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [1, "element"])
def test_large_unaligned_out_does_not_stream(dtype, offset):
    """An out at an odd byte address cannot reach 32-byte alignment by
    skipping elements: a non-temporal store there faulted (a crash).  The
    mask's streaming loop stores 16-byte pieces at every eighth element, so
    it needs out 16-byte aligned."""
    n = streaming.SMALLEST // np.dtype(dtype).itemsize + 11
    x = np.random.default_rng(2).standard_normal(n).astype(dtype)
    remainder = np.dtype(dtype).itemsize if offset == "element" else 1
    buffer = np.empty(x.nbytes + 32, np.uint8)
    start = (remainder - buffer.ctypes.data) % 16
    out = buffer[start:start + x.nbytes].view(dtype)  # at remainder mod 16
    assert out.flags.aligned == (offset == "element")
    if offset != "element":
        assert not streaming.applies(BUILTIN["relu"], "forward", [x], out)
        assert not streaming.applies(BUILTIN["relu"], "backward", [x, x], out)
    assert not streaming.applies_to_mask(out)
    want = fastrelu.relu(x, backend="numba")
    np.testing.assert_array_equal(fastrelu.relu_backward(x, x, out=out, backend="numba-parallel"),
                                  want)
    np.testing.assert_array_equal(fastrelu.relu(x, out=out, backend="numba-parallel"), want)
    y, mask = fastrelu.relu_mask(x, out=out, backend="numba-parallel")
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(mask, np.packbits(x > 0, bitorder="little"))
