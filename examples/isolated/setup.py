from setuptools import Extension, setup

setup(
    name='isolated',
    version='1.0',
    description='An isolated multi-phase extension module (PEP 489)',
    ext_modules=[Extension('isolated', ['isolated.c'],
                           extra_compile_args=['-Werror'])],
)
