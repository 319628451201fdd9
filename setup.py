"""Packaging for cti_nb, driven by settings.ini (nbdev 2 layout, written without pkg_resources)."""
from configparser import ConfigParser
from pathlib import Path

import setuptools
from setuptools.command.build_py import build_py

NOTEBOOKS = ['nbs/explore.ipynb', 'nbs/figures/*.ipynb']   # shipped as cti_nb/notebooks/ (see MANIFEST.in)


class BuildWithNotebooks(build_py):
    "Also copy the explorer and the figure notebooks into the package, so a wheel runs `cti-nb reproduce` / `explore`."
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False): return   # an editable install uses the checkout's nbs/
        import shutil
        here = Path(__file__).parent
        for pattern in NOTEBOOKS:
            for src in sorted(here.glob(pattern)):
                dest = Path(self.build_lib) / 'cti_nb' / 'notebooks' / src.relative_to(here / 'nbs')
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)

cfg = ConfigParser(delimiters=['='])
cfg.read(Path(__file__).with_name('settings.ini'), encoding='utf-8')
cfg = cfg['DEFAULT']

requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
readme = Path(__file__).with_name('README.md')

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=readme.read_text(encoding='utf-8') if readme.exists() else cfg['description'],
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    license='Apache-2.0',
    keywords=cfg['keywords'].split(),
    python_requires=f">={cfg['min_python']}",
    packages=setuptools.find_packages(include=['cti_nb', 'cti_nb.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require={'dev': dev_requirements, 'crf': ['pydensecrf2'], 'coco': ['pycocotools']},
    entry_points={
        'console_scripts': cfg.get('console_scripts', '').split(),
        'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    zip_safe=False,
    cmdclass={'build_py': BuildWithNotebooks},
)
