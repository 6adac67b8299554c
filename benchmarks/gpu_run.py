"""Every measurement that needs a GPU, in one command; and the data it needs, packed here first.

    python benchmarks/gpu_run.py pack [--shared ../shared] [--out .gpu/data]            # on this machine
    python3 benchmarks/gpu_run.py run [--budget 570] [--stages ...] [--out OUT]          # on the GPU machine
    python benchmarks/gpu_run.py run --quick --device cpu --out /tmp/smoke                 # CPU smoke run

``pack`` writes the 291 training images (T91 + BSD200) and Set5/Set14 (HR and x4 LR) to the
git-ignored ``.gpu/data`` as lossless WebP (about 68% of the PNG bytes; grey images stay PNG),
for a GPU machine that does not have ``../shared``; ``.whl`` may hold wheels the GPU machine lacks
(basicsr 1.4.2 and its pure-Python needs). ``run`` takes its stages in order (``--stages`` picks some):

1. ``setup``: installs ``.whl`` into /tmp/site, unpacks the data to PNG, and starts
   ``alkdsr prepare`` (MATLAB-bicubic x4 LR, 192x192 sub-images, step 64) in the background;
2. ``tests``: the CUDA tests CI cannot run: the fused backward's gradients on CUDA (one ALKConv
   against float64 autograd, a whole ALKDNet against eager, also under bf16 autocast), training
   with ``fused_alkconv``, ``DevicePairedImageDataset`` and the CUDA prefetcher, ``alkdsr profile``
   on CUDA, and torchrun with NCCL;
3. ``infer``: ``bench_infer.py``, x4 and x2 at 1280x720 output, every fast path against eager;
4. ``speed``: ``bench_train.py``, every training configuration (the compiled ones in one time
   box): it/s, ratio to the float32 reference, peak memory;
5. ``data``: ``bench_data.py``, patches/s of BasicSR's loader + CUDA prefetcher and of
   ``DevicePairedImageDataset``, against the 1,600 patches/s that 25 it/s needs;
6. ``profile``: ``profile_train_step.py`` (data wait, forward, backward, optimizer; kernel table
   and trace) for the reference and the fastest configuration, with real data;
7. ``curves``: the same seed, ``--curve-iters`` (2,000) iterations of the x4 recipe
   (``options/train_ALKDNet_x4_291_short.yml``) with the reference path and with the fastest
   (switches and loader); Set5 PSNR every 200 iterations, plotted with
   ``scripts/plot_validation.py``; the final PSNRs must agree within 0.05 dB;
8. ``train``: x4 from scratch with the fastest path for the time left (a cosine schedule over
   the iterations that fit at the fastest measured speed, less 15% for data, validation and logs);
9. ``benchmark``: ``alkdsr benchmark`` on Set5/Set14, and the weights as safetensors.

Sizing (from an earlier H200 run): the eager speed table takes about 90 s, each compiled
configuration a minute or more of compiling (``--compile-box``), the reference's 2,000 iterations
about 215 s at 9.4 it/s. When the stages do not fit one command, run the measuring ones first and
give the second command their choice:

    python3 benchmarks/gpu_run.py run --budget 560 --stages setup tests infer speed data profile
    python3 benchmarks/gpu_run.py run --budget N --stages setup curves train benchmark \\
        --fastest CONFIG --fastest-its IT_S --fastest-loader LOADER     # from the first's summary.json

Everything lands in ``--out``: ``session.log``, ``summary.json`` (every measured number, with the
card's name), ``curves.png``, ``alkdnet_x4_alkdsr.safetensors`` and ``bundle.tgz`` (logs, JSONs,
profiles, traces), each rewritten after every stage, so a run cut short keeps what it measured.
A failed stage is logged and the next one runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import cv2
import numpy as np

from alkdsr.metrics.curves import plot, read_curve

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / 'benchmarks'
RECIPE = ROOT / 'options' / 'train_ALKDNet_x4_291_short.yml'
STAGES = ('setup', 'tests', 'infer', 'speed', 'data', 'profile', 'curves', 'train', 'benchmark')
REFERENCE = 'fp32/tf32 (reference)'
CURVE_TOLERANCE_DB = 0.05
# the reference path's switches, all off (every key exists in RECIPE, as --force_yml needs)
# bench_train.py's configuration names -> the switch each names in the recipe
SWITCHES = {
    'amp bf16': 'train:amp=bf16',
    'compile': 'train:compile=true',
    'channels_last': 'train:channels_last=true',
    'fused Adam': 'train:optim_g:fused=true',
    'fused ALKConv': 'train:fused_alkconv=true',
}
PLAIN = ['train:amp=~', 'train:compile=false', 'train:channels_last=false', 'train:fused_alkconv=false',
         'train:optim_g:fused=false', 'datasets:train:type=PairedImageDataset']  # fmt: skip


SETS = {
    'train/T91': 'datasets/train/T91',
    'train/BSD200': 'datasets/train/BSD200',
    'benchmark/Set5/HR': 'datasets/benchmark/Set5/HR',
    'benchmark/Set5/LR_bicubic/X4': 'datasets/benchmark/Set5/LR_bicubic/X4',
    'benchmark/Set14/HR': 'datasets/benchmark/Set14/HR',
    'benchmark/Set14/LR_bicubic/X4': 'datasets/benchmark/Set14/LR_bicubic/X4',
}
IMAGE_SUFFIXES = {'.png', '.bmp', '.jpg', '.jpeg', '.tif', '.tiff', '.webp'}


def packed(path: Path) -> tuple[bytes, str]:
    """Lossless WebP, or the file itself where WebP would not give back the same array (grey images)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise SystemExit(f'gpu_run pack: {path}: not a readable image')
    ok, encoded = cv2.imencode('.webp', image, [cv2.IMWRITE_WEBP_QUALITY, 101])  # > 100: lossless
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if ok else None
    if decoded is None or decoded.shape != image.shape or not np.array_equal(decoded, image):
        return path.read_bytes(), path.suffix.lower()
    return encoded.tobytes(), '.webp'


def unpack(packed: Path, out: Path) -> int:
    """``.gpu/data`` -> PNG files in the same layout under ``out``; returns the image count."""
    count = 0
    for source in sorted(f for f in packed.rglob('*') if f.suffix.lower() in IMAGE_SUFFIXES):
        target = out / source.relative_to(packed).with_suffix('.png')
        target.parent.mkdir(parents=True, exist_ok=True)
        image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        if image is None or not cv2.imwrite(str(target), image):
            raise SystemExit(f'unpack: {source}: cannot convert to {target}')
        count += 1
    return count


class Session:
    def __init__(self, args):
        self.args = args
        self.start = time.monotonic()
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.work = Path(args.workdir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.results = self.work / 'results'  # what bundle.tgz holds
        self.results.mkdir(exist_ok=True)
        self.data = self.work / 'data'
        self.train291 = self.work / 'train291'
        self.summary: dict = {'stages': {}}
        self.env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
        self.env['PYTHONPATH'] = os.pathsep.join(p for p in ('/tmp/site', str(ROOT), os.environ.get('PYTHONPATH')) if p)
        self.prepare: subprocess.Popen | None = None

    # ---------------------------------------------------------------- helpers
    def left(self) -> float:
        return self.args.budget - (time.monotonic() - self.start)

    def log(self, line: str) -> None:
        stamped = f'[{time.monotonic() - self.start:6.0f} s] {line}'
        print(stamped, flush=True)
        with open(self.out / 'session.log', 'a') as f:
            f.write(stamped + '\n')

    def run(self, name: str, cmd: list, timeout: float, cwd: Path | None = None) -> bool:
        """Run ``cmd`` with its output in results/<name>.log; False (logged) when it fails or times out."""
        timeout = min(timeout, self.left())
        if timeout < 5:
            self.log(f'{name}: skipped, no time left')
            return False
        self.log(f'{name}: {" ".join(map(str, cmd))} (time box {timeout:.0f} s)')
        with open(self.results / f'{name}.log', 'w') as f:
            try:
                proc = subprocess.run(list(map(str, cmd)), stdout=f, stderr=subprocess.STDOUT, env=self.env,
                                      cwd=cwd or ROOT, timeout=timeout)  # fmt: skip
            except subprocess.TimeoutExpired:
                self.log(f'{name}: stopped at its time box')
                return False
        if proc.returncode:
            tail = (self.results / f'{name}.log').read_text(errors='replace').strip().splitlines()[-3:]
            self.log(f'{name}: exit {proc.returncode}: {" | ".join(tail)}')
        return proc.returncode == 0

    def python(self, *args) -> list:
        return [sys.executable, *args]

    def save(self) -> None:
        """summary.json and bundle.tgz in $OUT, rewritten after every stage."""
        self.summary['elapsed_s'] = round(time.monotonic() - self.start)
        (self.out / 'summary.json').write_text(json.dumps(self.summary, indent=1))
        with tarfile.open(self.out / 'bundle.tgz', 'w:gz') as tar:
            tar.add(self.results, arcname='results')

    def wait_for_data(self) -> bool:
        if self.prepare is not None:
            self.prepare.wait(timeout=max(self.left(), 1))
            self.prepare = None
        ok = (self.train291 / 'HR_sub').is_dir() and any((self.train291 / 'HR_sub').iterdir())
        if not ok:
            self.log(f'no training sub-images in {self.train291} (see results/prepare.log)')
        return ok

    # ----------------------------------------------------------------- stages
    def setup(self) -> None:
        wheels = sorted((ROOT / '.whl').glob('*.whl'))
        if wheels:
            cmd = ['-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-compile', '--no-cache-dir',
                   '--upgrade', '--target', '/tmp/site', *wheels]  # fmt: skip
            self.run('wheels', self.python(*cmd), 120)
        self.run('versions', self.python('-c', VERSIONS), 60)
        self.log((self.results / 'versions.log').read_text().strip())
        count = unpack(Path(self.args.packed), self.data)
        self.log(f'unpacked {count} images from {self.args.packed} to {self.data}')
        self.summary['data'] = json.loads((Path(self.args.packed) / 'MANIFEST.json').read_text())
        train = sorted(str(d) for d in (self.data / 'train').iterdir() if d.is_dir())
        cmd = self.python('-m', 'alkdsr.cli.main', 'prepare', *train, self.train291, '--scales', '4',
                          '--workers', str(min(8, os.cpu_count() or 1)), '--subimages', '--crop-size', '192',
                          '--step', '64', '--thresh-size', '0')  # fmt: skip
        self.log(f'prepare (background): {" ".join(map(str, cmd))}')
        self.prepare = subprocess.Popen(list(map(str, cmd)), stdout=open(self.results / 'prepare.log', 'w'),
                                        stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)  # fmt: skip

    def tests(self) -> None:
        tests = ['tests/archs/test_alkconv_backward.py', 'tests/training/test_train_switches.py',
                 'tests/cli/test_profile.py', 'tests/training/test_train_dist.py',
                 'tests/inference/test_fast.py']  # fmt: skip
        chosen = 'cuda or opcheck or fused_alkconv or device_resident or nccl'
        cmd = self.python('-m', 'pytest', '-q', '-p', 'no:cacheprovider', *tests, '-k', chosen)
        self.summary['tests_passed'] = self.run('tests', cmd, 180)
        self.log((self.results / 'tests.log').read_text(errors='replace').strip().splitlines()[-1])

    def infer(self) -> None:
        self.summary['infer'] = {}
        for scale, box in ((4, 170), (2, 90)):
            out = self.results / f'infer_x{scale}.json'
            quick = ['--quick', '--lr-size', '24x20', '--runs', '1'] if self.args.quick else []
            cmd = self.python(BENCH / 'bench_infer.py', '--scale', scale, '--device', self.args.device, '--json', out)
            self.run(f'infer_x{scale}', cmd + quick, box)
            if out.exists():
                self.summary['infer'][f'x{scale}'] = json.loads(out.read_text())

    def speed(self) -> None:
        from bench_train import CONFIGS  # a sibling script: python puts this folder on the path

        common = ['--device', self.args.device, *(['--quick', '--patch', '8'] if self.args.quick else [])]
        eager = [n for n in CONFIGS if 'compile' not in n and 'EMA' not in n]
        # compiled configurations share one process and time box, the likely fastest first: inductor
        # compiles for a minute or more each, and whatever finished inside the box is kept
        compiled = sorted(
            (n for n in CONFIGS if 'compile' in n), key=lambda n: ('fused ALKConv' not in n, 'bf16' not in n)
        )
        groups = [('speed_eager', eager, 240)]
        if not self.args.quick and self.args.compile_box > 0:
            groups.append(('speed_compiled', compiled, self.args.compile_box))
        rows = []
        for name, configs, box in groups:
            out = self.results / f'{name}.json'
            cmd = self.python(BENCH / 'bench_train.py', *common, '--json', out)
            if not self.args.quick:
                cmd += ['--configs', *configs]
            self.run(name, cmd, box)
            if out.exists():
                rows += json.loads(out.read_text())['rows']
                self.summary['speed_header'] = json.loads(out.read_text())['header']
        reference = next((r for r in rows if r['config'] == REFERENCE and 'its' in r), None)
        for r in rows:
            if 'its' in r:
                r['median_its'] = float(np.median(r['its']))
                r['ratio'] = r['median_its'] / float(np.median(reference['its'])) if reference else None
        measured = [r for r in rows if 'its' in r and 'EMA' not in r['config']]
        self.summary['speed'] = rows
        if measured:
            best = max(measured, key=lambda r: r['median_its'])
            self.summary['fastest'] = best['config']
            self.log(f'fastest: {best["config"]} at {best["median_its"]:.2f} it/s (x{best["ratio"] or 0:.2f})')
        (self.results / 'train_speed.json').write_text(json.dumps({'rows': rows}, indent=1))

    def data_speed(self) -> None:
        if not self.wait_for_data():
            return
        out = self.results / 'data_speed.json'
        cmd = self.python(BENCH / 'bench_data.py', '--gt', self.train291 / 'HR_sub', '--lq',
                          self.train291 / 'LR_bicubic_sub' / 'X4', '--device', self.args.device, '--json', out,
                          *(['--quick', '--workers', '1'] if self.args.quick else []))  # fmt: skip
        self.run('data_speed', cmd, 150)
        if out.exists():
            rows = json.loads(out.read_text())['rows']
            self.summary['data_speed'] = rows
            self.summary['fastest_loader'] = max(rows, key=lambda r: r['patches_per_s'])['loader']

    def loader(self) -> str:
        return self.args.fastest_loader or self.summary.get('fastest_loader', 'PairedImageDataset')

    def profile(self) -> None:
        if not self.wait_for_data():
            return
        configs = {'reference': (REFERENCE, 'PairedImageDataset'), 'fastest': (self.fastest(), self.loader())}
        self.summary['profile'] = {}
        for label, (config, loader) in configs.items():
            if label == 'fastest' and configs['fastest'] == configs['reference']:
                break
            folder = self.results / f'profile_{label}'
            cmd = self.python(BENCH / 'profile_train_step.py', '--config', config, '--loader', loader, '--gt',
                              self.train291 / 'HR_sub', '--lq', self.train291 / 'LR_bicubic_sub' / 'X4',
                              '--device', self.args.device, '--out', folder,
                              *(['--quick', '--workers', '1'] if self.args.quick else []))  # fmt: skip
            if self.run(f'profile_{label}', cmd, 120):
                self.summary['profile'][label] = json.loads((folder / 'phases.json').read_text())

    def fastest(self) -> str:
        return self.args.fastest or self.summary.get('fastest') or REFERENCE

    def fastest_entries(self) -> list[str]:
        config = self.fastest()
        off = {v: v.replace('=true', '=false').replace('=bf16', '=~') for v in SWITCHES.values()}
        entries = [v if k in config else off[v] for k, v in SWITCHES.items()]
        return [*entries, f'datasets:train:type={self.loader()}']

    def train(self, name: str, iters: int, entries: list[str], val_freq: int) -> Path | None:
        """One run of the x4 recipe (cwd: the work folder); returns its log."""
        print_freq = max(1, min(100, val_freq))
        val_freq = max(print_freq, val_freq // print_freq * print_freq)  # plot_validation.py needs a multiple
        forced = [
            f'name={name}', f'train:total_iter={iters}', f'train:scheduler:periods=[{iters}]',
            f'val:val_freq={val_freq}', f'logger:print_freq={print_freq}', f'logger:save_checkpoint_freq={iters}',
            f'datasets:train:dataroot_gt={self.train291 / "HR_sub"}',
            f'datasets:train:dataroot_lq={self.train291 / "LR_bicubic_sub" / "X4"}',
            f'datasets:val:dataroot_gt={self.data / "benchmark" / "Set5" / "HR"}',
            f'datasets:val:dataroot_lq={self.data / "benchmark" / "Set5" / "LR_bicubic" / "X4"}',
            *entries,
        ]  # fmt: skip
        if self.args.quick:  # CPU smoke: a tiny network and batch
            forced += ['network_g:num_feat=16', 'network_g:num_block=1', 'datasets:train:batch_size_per_gpu=2',
                       'datasets:train:gt_size=64', 'datasets:train:num_worker_per_gpu=1',
                       'datasets:train:prefetch_mode=~', 'datasets:train:pin_memory=false']  # fmt: skip
        cmd = self.python(ROOT / 'alkdsr' / 'train.py', '-opt', RECIPE, '--force_yml', *forced)
        ok = self.run(name, cmd, self.left() - self.args.reserve, cwd=self.work)
        logs = sorted((self.work / 'experiments' / name).glob('train_*.log'))
        if logs:
            shutil.copy(logs[-1], self.results / f'{name}.train.log')
            return logs[-1]
        if not ok:
            self.log(f'{name}: no training log')
        return None

    def curves(self) -> None:
        if not self.wait_for_data():
            return
        iters = self.args.curve_iters
        val_freq = max(1, iters // 10)
        runs = {'reference': PLAIN, 'fastest': self.fastest_entries()}
        self.summary['curves'] = {'iterations': iters, 'fastest_entries': runs['fastest']}
        curves = {}
        for label, entries in runs.items():
            log = self.train(f'ALKDNet_x4_curve_{label}', iters, entries, val_freq)
            if log is not None:
                curves[label] = read_curve(log)
                self.summary['curves'][label] = curves[label]
        if len(curves) == 2 and curves['reference'] and curves['fastest']:
            difference = abs(curves['reference'][-1][1] - curves['fastest'][-1][1])
            self.summary['curves']['final_psnr_difference_db'] = difference
            self.summary['curves']['within_tolerance'] = difference <= CURVE_TOLERANCE_DB
            self.log(f'curves: final Set5 PSNR differs by {difference:.3f} dB (tolerance {CURVE_TOLERANCE_DB})')
            fastest = f'fastest ({self.fastest()}, {self.loader()})'
            labels = {'reference': f'reference ({REFERENCE}, PairedImageDataset)', 'fastest': fastest}
            plot({labels[k]: v for k, v in curves.items()}, self.out / 'curves.png', 'psnr',
                 f'ALKDNet x4, Set5 PSNR, same seed, {iters} iterations')  # fmt: skip

    def train_x4(self) -> None:
        if not self.wait_for_data():
            return
        seconds = self.left() - self.args.reserve
        measured = [r for r in self.summary.get('speed', []) if r.get('config') == self.fastest() and 'median_its' in r]
        its = self.args.fastest_its if self.args.fastest or not measured else measured[0]['median_its']
        iters = max(100, int(its * max(seconds, 0) * 0.85) // 50 * 50)  # 15% for data, validation and logs
        iters = 4 if self.args.quick else iters
        self.summary['train'] = {'iterations': iters, 'entries': self.fastest_entries(), 'seconds_planned': seconds}
        t0 = time.monotonic()
        self.train('ALKDNet_x4_291_scratch', iters, self.fastest_entries(), max(1, iters // 5))
        self.summary['train']['wall_s'] = round(time.monotonic() - t0)

    def benchmark(self) -> None:
        models = self.work / 'experiments' / 'ALKDNet_x4_291_scratch' / 'models'
        weights = max(models.glob('net_g_*.pth'), key=os.path.getmtime, default=None) if models.is_dir() else None
        if weights is None:
            self.log('benchmark: no trained weights')
            return
        out = self.results / 'benchmark_x4.json'
        device = 'cuda' if self.args.device == 'cuda' else 'cpu'
        self.run('benchmark', self.python('-m', 'alkdsr.cli.main', 'benchmark', '--weights', weights, '--data-root',
                                          self.data / 'benchmark', '--sets', 'Set5', 'Set14', '--device', device,
                                          '--json', out), 120)  # fmt: skip
        if out.exists():
            self.summary['benchmark'] = json.loads(out.read_text())
        export = 'import alkdsr, sys; alkdsr.save_checkpoint(alkdsr.load_model(sys.argv[1]), sys.argv[2])'
        self.run('export', self.python('-c', export, weights, self.out / 'alkdnet_x4_alkdsr.safetensors'), 60)


VERSIONS = """
import torch, platform
name = torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device'
try:
    import triton; tv = triton.__version__
except ImportError:
    tv = 'not installed'
print(f'{name}; torch {torch.__version__}; triton {tv}; python {platform.python_version()}')
"""


def pack(args) -> int:
    """``../shared``'s training and benchmark images -> lossless WebP in ``args.out``, with MANIFEST.json."""
    shared, out = Path(args.shared), Path(args.out)
    manifest, total_png, total_webp = {}, 0, 0
    for name, source in SETS.items():
        files = sorted(f for f in (shared / source).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SystemExit(f'gpu_run pack: {shared / source}: no images')
        files = files[: args.limit] if args.limit else files
        (out / name).mkdir(parents=True, exist_ok=True)
        for f in files:
            data, suffix = packed(f)
            (out / name / f'{f.stem}{suffix}').write_bytes(data)
            total_png, total_webp = total_png + f.stat().st_size, total_webp + len(data)
        manifest[name] = len(files)
    (out / 'MANIFEST.json').write_text(json.dumps(dict(images=manifest, png_bytes=total_png, webp_bytes=total_webp)))
    mib = f'{total_png / 2**20:.1f} MiB as PNG -> {total_webp / 2**20:.1f} MiB'
    print(f'{sum(manifest.values())} images, {mib} in {out}')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    packing = commands.add_parser('pack', help='pack the images a GPU run needs (on this machine)')
    packing.add_argument('--shared', default='../shared', help='the reference data folder (default: ../shared)')
    packing.add_argument('--out', default='.gpu/data', help='packed folder (default: .gpu/data)')
    packing.add_argument('--limit', type=int, default=None, help='only the first N images of each folder (smoke runs)')
    p = commands.add_parser('run', help='the stages, on the GPU machine')
    p.add_argument('--budget', type=float, default=570, help='seconds for the whole command (default: 570)')
    p.add_argument('--stages', nargs='+', choices=STAGES, default=list(STAGES))
    p.add_argument('--out', default=os.environ.get('OUT', 'gpu_out'), help='results folder (default: $OUT)')
    p.add_argument('--workdir', default='/tmp/alkdsr_gpu', help='data, experiments and logs while running')
    p.add_argument('--packed', default=str(ROOT / '.gpu' / 'data'), help="what 'pack' wrote (default: .gpu/data)")
    p.add_argument('--device', choices=['cuda', 'cpu'], default='cuda')
    p.add_argument('--curve-iters', type=int, default=2000)
    p.add_argument('--compile-box', type=float, default=240, help='seconds for all compiled configurations (0: none)')
    p.add_argument('--fastest', help='bench_train configuration to use without a speed stage in this run')
    p.add_argument(
        '--fastest-loader',
        choices=['PairedImageDataset', 'DevicePairedImageDataset'],
        help="the fastest path's loader, whatever the data stage measured",
    )
    p.add_argument('--fastest-its', type=float, default=8.0, help='its it/s, to size the x4 run (with --fastest)')
    p.add_argument('--reserve', type=float, default=90, help='seconds kept for benchmark and export')
    p.add_argument('--quick', action='store_true', help='CPU smoke run: tiny sizes and iterations')
    args = parser.parse_args(argv)
    if args.command == 'pack':
        return pack(args)
    if args.quick:
        args.curve_iters = min(args.curve_iters, 4)
    session = Session(args)
    session.log(f'gpu_run: stages {" ".join(args.stages)}, budget {args.budget:.0f} s, out {args.out}')
    steps = {'setup': session.setup, 'tests': session.tests, 'infer': session.infer, 'speed': session.speed,
             'data': session.data_speed,
             'profile': session.profile, 'curves': session.curves, 'train': session.train_x4,
             'benchmark': session.benchmark}  # fmt: skip
    for stage in STAGES:
        if stage not in args.stages:
            continue
        t0 = time.monotonic()
        try:
            steps[stage]()
        except Exception as e:  # noqa: BLE001  (log it, keep what was measured, go on)
            session.log(f'{stage}: failed: {type(e).__name__}: {e}')
        session.summary['stages'][stage] = round(time.monotonic() - t0)
        session.save()
    if session.prepare is not None:
        session.prepare.kill()
    session.log(f'done; results in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
