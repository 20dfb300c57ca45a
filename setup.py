"""The backend distribution's CPython extensions (its metadata is in pyproject.toml).

  churnml.scoring._native_trees     the tree evaluator and TreeSHAP (scoring/tree_evaluator.py)
  churnml.sentiment._int8_encoder   the int8 sentence encoder's forward pass (sentiment/int8_encoder.py)
  churnml_loaders._copy_rows        the COPY row scanner (copy_rows.py; a slower Python scanner
                                    serves where it is not built)
They are built in place by `pip install -e .` (make venv / make native), and make install
copies the packages, these files with them, into the server's runtime.
"""

from setuptools import Extension, setup

# Warning-free C; -O3 for the hot loops (after the interpreter's own -O2, so it wins).
FLAGS = ["-O3", "-Wall", "-Wextra", "-Werror"]

setup(
    ext_modules=[
        Extension("churnml.scoring._native_trees", ["python_udfs/churnml/scoring/_native_trees.c"],
                  extra_compile_args=FLAGS, extra_link_args=["-pthread"], libraries=["m"]),
        # -fopenmp-simd: only the `#pragma omp simd` loop hints (reductions may be vectorized); no OpenMP runtime
        Extension("churnml.sentiment._int8_encoder", ["python_udfs/churnml/sentiment/_int8_encoder.c"],
                  extra_compile_args=[*FLAGS, "-fopenmp-simd"], libraries=["m"]),
        Extension("churnml_loaders._copy_rows", ["loaders/churnml_loaders/_copy_rows.c"],
                  extra_compile_args=FLAGS),
    ],
)
