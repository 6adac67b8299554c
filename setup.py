"""alkdsr: ALKDNet (Asymmetric Large Kernel Distillation Network) as a BasicSR plugin."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
version = {}
exec((ROOT / 'alkdsr' / 'version.py').read_text(), version)

setup(
    name='alkdsr',
    version=version['__version__'],
    description='ALKDNet for lightweight single-image super-resolution, as a BasicSR plugin',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='MIT',
    python_requires='>=3.9',
    packages=find_packages(include=['alkdsr', 'alkdsr.*']),
    package_data={'alkdsr': ['metrics/*.csv']},
    install_requires=[
        'torch>=2.5',  # torch.library.custom_op with this code's annotations; 2.4.1 fails (README: Install)
        'torchvision>=0.20',
        'basicsr==1.4.2',  # alkdsr.utils.compat and alkdsr/train.py change 1.4.2's internals
        'numpy',
        'numba>=0.59',  # alkdsr.ops.cpu_kernels: the CPU path's fused kernels, from wheels (no C compiler)
        'opencv-python',
        'pillow',
        'pyyaml',
        'tqdm',
        'lmdb',
        'safetensors',
        'torchdata>=0.11',  # StatefulDataLoader: the training loader resumes mid-epoch
        'pydantic>=2.7',  # the option tree (alkdsr.options.schema)
        'filelock>=3.12',  # alkdsr.files.locks: the run folder's and the kernel cache's locks
        'platformdirs>=3',  # the cache folder where ALKDSR_HOME is not set (alkdsr.zoo.cache.home_dir)
        'setuptools',  # provides distutils, which basicsr imports, on Python >= 3.12
    ],
    extras_require={
        'onnx': ['onnx', 'onnxruntime'],
        'plot': ['matplotlib'],
        'demo': ['scikit-image'],
        'spandrel': ['spandrel>=0.4'],
        # alkdsr export --format ncnn: pnnx converts, ncnn runs --verify; pinned together (pnnx's output format
        # changes between releases, and alkdsr.inference.ncnn_util.legalize reads this one's)
        'ncnn': ['pnnx==20261020', 'ncnn==1.0.20261020'],
        'dev': [
            'pytest',
            'pytest-timeout',
            'pytest-xdist',
            'ruff',
            'import-linter',
            'onnx',
            'onnxruntime',
            'matplotlib',
            'scikit-image',
            'spandrel>=0.4',
            'spandrel_extra_arches',
            'pnnx==20261020',
            'ncnn==1.0.20261020',
        ],
    },
    entry_points={
        'console_scripts': [
            'alkdsr=alkdsr.cli:main',
            'alkdsr-train=alkdsr.train:main',
            'alkdsr-test=alkdsr.test:main',
        ],
    },
    classifiers=[
        'License :: OSI Approved :: MIT License',
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Image Processing',
    ],
)
