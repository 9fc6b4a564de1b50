"""What ``auto`` weighs (``dispatch.parallel_limits``), measured by
``python perf/bench_auto.py`` on Intel(R) Xeon(R) Processor, 2 Numba threads, 2026-12-07.

Written by that script: rerun it rather than edit by hand.
"""

#: The fixed cost of a parallel loop beyond the serial one, in seconds:
#: with its workers awake (a call right after another), and asleep.
PARALLEL_AWAKE_SECONDS = 2.44e-06
PARALLEL_ASLEEP_SECONDS = 7.73e-05

#: (activation, direction, dtype) -> serial nanoseconds per element, in cache.
SERIAL_NS_PER_ELEMENT = {
    ('celu', 'backward', 'float32'): 0.758,
    ('celu', 'backward', 'float64'): 1.882,
    ('celu', 'forward', 'float32'): 0.635,
    ('celu', 'forward', 'float64'): 2.5052,
    ('elu', 'backward', 'float32'): 0.6747,
    ('elu', 'backward', 'float64'): 1.5863,
    ('elu', 'forward', 'float32'): 0.5436,
    ('elu', 'forward', 'float64'): 2.0872,
    ('gelu', 'backward', 'float32'): 0.9897,
    ('gelu', 'backward', 'float64'): 6.5796,
    ('gelu', 'forward', 'float32'): 0.8656,
    ('gelu', 'forward', 'float64'): 6.5161,
    ('gelu_tanh', 'backward', 'float32'): 1.9001,
    ('gelu_tanh', 'backward', 'float64'): 3.3743,
    ('gelu_tanh', 'forward', 'float32'): 1.2883,
    ('gelu_tanh', 'forward', 'float64'): 2.5922,
    ('hardsigmoid', 'backward', 'float32'): 0.1807,
    ('hardsigmoid', 'backward', 'float64'): 0.6003,
    ('hardsigmoid', 'forward', 'float32'): 0.1858,
    ('hardsigmoid', 'forward', 'float64'): 0.562,
    ('hardswish', 'backward', 'float32'): 0.1875,
    ('hardswish', 'backward', 'float64'): 0.5822,
    ('hardswish', 'forward', 'float32'): 0.1911,
    ('hardswish', 'forward', 'float64'): 0.5754,
    ('leaky_relu', 'backward', 'float32'): 0.1402,
    ('leaky_relu', 'backward', 'float64'): 0.2936,
    ('leaky_relu', 'forward', 'float32'): 0.116,
    ('leaky_relu', 'forward', 'float64'): 0.2269,
    ('mish', 'backward', 'float32'): 1.8049,
    ('mish', 'backward', 'float64'): 2.7633,
    ('mish', 'forward', 'float32'): 1.1807,
    ('mish', 'forward', 'float64'): 2.0425,
    ('relu', 'backward', 'float32'): 0.126,
    ('relu', 'backward', 'float64'): 0.2897,
    ('relu', 'forward', 'float32'): 0.0982,
    ('relu', 'forward', 'float64'): 0.1847,
    ('relu6', 'backward', 'float32'): 0.1225,
    ('relu6', 'backward', 'float64'): 0.2846,
    ('relu6', 'forward', 'float32'): 0.0924,
    ('relu6', 'forward', 'float64'): 0.1832,
    ('selu', 'backward', 'float32'): 0.7215,
    ('selu', 'backward', 'float64'): 1.5952,
    ('selu', 'forward', 'float32'): 0.7933,
    ('selu', 'forward', 'float64'): 2.1031,
    ('sigmoid', 'backward', 'float32'): 0.7634,
    ('sigmoid', 'backward', 'float64'): 2.045,
    ('sigmoid', 'forward', 'float32'): 0.602,
    ('sigmoid', 'forward', 'float64'): 1.8973,
    ('silu', 'backward', 'float32'): 0.8446,
    ('silu', 'backward', 'float64'): 2.3949,
    ('silu', 'forward', 'float32'): 0.687,
    ('silu', 'forward', 'float64'): 2.1576,
    ('softplus', 'backward', 'float32'): 0.7808,
    ('softplus', 'backward', 'float64'): 2.2301,
    ('softplus', 'forward', 'float32'): 1.6456,
    ('softplus', 'forward', 'float64'): 4.9973,
    ('tanh', 'backward', 'float32'): 0.7706,
    ('tanh', 'backward', 'float64'): 2.1932,
    ('tanh', 'forward', 'float32'): 0.8988,
    ('tanh', 'forward', 'float64'): 2.4871,
}
