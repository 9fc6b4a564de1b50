"""What ``auto`` weighs (``dispatch.parallel_limits``), measured by
``python perf/bench_auto.py`` on Intel(R) Xeon(R) Processor, 2 Numba threads, 2026-12-07.

Written by that script: rerun it rather than edit by hand.
"""

#: The fixed cost of a parallel loop beyond the serial one, in seconds:
#: with its workers awake (a call right after another), and asleep.
PARALLEL_AWAKE_SECONDS = 2.43e-06
PARALLEL_ASLEEP_SECONDS = 7.31e-05

#: (activation, direction, dtype) -> serial nanoseconds per element, in cache.
SERIAL_NS_PER_ELEMENT = {
    ('celu', 'backward', 'float32'): 0.6593,
    ('celu', 'backward', 'float64'): 1.1289,
    ('celu', 'forward', 'float32'): 0.5446,
    ('celu', 'forward', 'float64'): 1.0268,
    ('elu', 'backward', 'float32'): 0.5508,
    ('elu', 'backward', 'float64'): 0.9219,
    ('elu', 'forward', 'float32'): 0.4694,
    ('elu', 'forward', 'float64'): 0.8008,
    ('gelu', 'backward', 'float32'): 0.8061,
    ('gelu', 'backward', 'float64'): 5.1272,
    ('gelu', 'forward', 'float32'): 0.7241,
    ('gelu', 'forward', 'float64'): 4.8116,
    ('gelu_tanh', 'backward', 'float32'): 1.7827,
    ('gelu_tanh', 'backward', 'float64'): 1.973,
    ('gelu_tanh', 'forward', 'float32'): 1.001,
    ('gelu_tanh', 'forward', 'float64'): 1.5993,
    ('hardsigmoid', 'backward', 'float32'): 0.2189,
    ('hardsigmoid', 'backward', 'float64'): 0.6906,
    ('hardsigmoid', 'forward', 'float32'): 0.2149,
    ('hardsigmoid', 'forward', 'float64'): 0.6585,
    ('hardswish', 'backward', 'float32'): 0.2355,
    ('hardswish', 'backward', 'float64'): 0.6865,
    ('hardswish', 'forward', 'float32'): 0.2213,
    ('hardswish', 'forward', 'float64'): 0.6283,
    ('leaky_relu', 'backward', 'float32'): 0.1656,
    ('leaky_relu', 'backward', 'float64'): 0.3149,
    ('leaky_relu', 'forward', 'float32'): 0.1648,
    ('leaky_relu', 'forward', 'float64'): 0.2616,
    ('mish', 'backward', 'float32'): 1.7611,
    ('mish', 'backward', 'float64'): 1.8108,
    ('mish', 'forward', 'float32'): 1.3476,
    ('mish', 'forward', 'float64'): 1.1543,
    ('relu', 'backward', 'float32'): 0.1518,
    ('relu', 'backward', 'float64'): 0.3245,
    ('relu', 'forward', 'float32'): 0.1337,
    ('relu', 'forward', 'float64'): 0.2352,
    ('relu6', 'backward', 'float32'): 0.1452,
    ('relu6', 'backward', 'float64'): 0.2676,
    ('relu6', 'forward', 'float32'): 0.1325,
    ('relu6', 'forward', 'float64'): 0.2355,
    ('selu', 'backward', 'float32'): 0.7121,
    ('selu', 'backward', 'float64'): 0.8238,
    ('selu', 'forward', 'float32'): 0.6502,
    ('selu', 'forward', 'float64'): 0.7751,
    ('sigmoid', 'backward', 'float32'): 0.6035,
    ('sigmoid', 'backward', 'float64'): 1.3345,
    ('sigmoid', 'forward', 'float32'): 0.5383,
    ('sigmoid', 'forward', 'float64'): 1.1239,
    ('silu', 'backward', 'float32'): 0.7264,
    ('silu', 'backward', 'float64'): 1.4714,
    ('silu', 'forward', 'float32'): 0.6145,
    ('silu', 'forward', 'float64'): 1.23,
    ('softplus', 'backward', 'float32'): 0.7,
    ('softplus', 'backward', 'float64'): 1.4391,
    ('softplus', 'forward', 'float32'): 1.8304,
    ('softplus', 'forward', 'float64'): 3.582,
    ('tanh', 'backward', 'float32'): 0.6703,
    ('tanh', 'backward', 'float64'): 1.4698,
    ('tanh', 'forward', 'float32'): 0.9669,
    ('tanh', 'forward', 'float64'): 1.1144,
}
