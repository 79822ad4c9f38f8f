"""The build step setuptools runs for ``pip install``/``pip wheel`` (the project's metadata is in
pyproject.toml). setuptools packs everything under ``build/lib`` into the wheel, and pip builds in
this folder, so a module removed from ``ndpack/`` since an earlier build (or a package of it) would
ship in the next wheel: ``build/lib`` is emptied before the package is copied there."""

import shutil

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyFromEmpty(build_py):
    def run(self):
        if not self.editable_mode:  # an editable install builds in a fresh temporary folder
            shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()


setup(cmdclass={"build_py": BuildPyFromEmpty})
