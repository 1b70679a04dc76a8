"""vta.compiler.bench: every ``vta bench`` command, one module per benchmark.

The package sits at the top of the stack so a benchmark may drive any layer (gateware
builds, simulators, driver, runtime, compiler).  Each module is named after what it
measures and defines ``register(cli)`` for its command; :mod:`.register` adds them all
to the ``vta`` command line (the ``vta.cli`` entry point ``bench``):

=====================  ====================================================
command                module
=====================  ====================================================
``bench fsim``         :mod:`.fsim_throughput`
``bench sim``          :mod:`.simulator_speed`
``bench resnet18``     :mod:`.resnet18`
``bench resnet18-layers``  :mod:`.resnet18_layers`
``bench sweep``        :mod:`.sweep`
``bench digits``       :mod:`.digits`
``bench cpu-kernels``  :mod:`.cpu_kernels`
``bench frontend``     :mod:`.frontend`
=====================  ====================================================

Code the benchmarks share: :mod:`.hand_tiled` (GEMM and conv2d written directly against
the command queue, the worked examples of docs/runtime.md), :mod:`.timing`.  A new
benchmark is a new module here plus one line in :mod:`.register`.
"""
