"""ALKDSRModel: BasicSR's SRModel with safe checkpoints and training speed/fault switches.

Beside BasicSR's options it reads, under ``train:``

- ``amp``: ``null`` (float32), ``bf16`` or ``fp16``: autocast of the training forward pass
  (fp16 with a gradient scaler). On the CPU ``bf16`` autocasts to bfloat16 and ``fp16`` is
  ignored with a logged note.
- ``compile``: ``false``, ``true`` or a dict of ``torch.compile`` arguments: compiles the
  training forward pass only; saving, EMA and validation use the plain module.
- ``channels_last``: ``false``/``true``: NHWC memory format for the network and its inputs.
- ``fused_alkconv``: ``false``/``true``: every ALKConv after its pointwise conv runs as one Triton
  kernel, forward and backward (``alkdsr.ops.alkconv_triton``); CUDA with Triton only.
- ``nan_policy``: ``stop`` (default) or ``skip``: what a non-finite loss does.
- ``deterministic``: ``false`` (default) or ``true``: deterministic kernels on CUDA (cuDNN's algorithm
  search off, ``torch.use_deterministic_algorithms``, cuBLAS's fixed workspace), so that a run and
  its resumed continuation repeat bit for bit there too, at some cost in speed.

With ``datasets: train: type: DevicePairedImageDataset`` the training batches are crop and flip
decisions; the model gathers the patches from the images it keeps on the device
(``alkdsr.data.device_pairs``).

Resuming continues the interrupted run exactly: each training state also holds, for every rank, the
resume point of the training loader (``alkdsr.data.resumable_loader``: the position in the epoch, the
workers' and this process's random states) after the batches trained so far, and a resume starts
the loader there. Validation leaves the random state as it found it, so that a run resumed after a
validation draws what the uninterrupted run drew.

Networks are loaded through ``alkdsr.zoo.checkpoint`` (``weights_only``, official ALKDN/BSRN names
translated, so no key-mismatch warnings for official checkpoints) and saved with the network's
config beside ``params``; every checkpoint and training state is written atomically.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from contextlib import nullcontext
from os import path as osp

import numpy as np
import torch
import torch.distributed as dist
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only
from torch.nn.parallel import DataParallel, DistributedDataParallel

from alkdsr.archs.alkdnet_arch import ALKDNet
from alkdsr.archs.arch_util import use_fused_kernels
from alkdsr.archs.official_keys import to_alkdsr_names
from alkdsr.data.device_pairs import DevicePairs
from alkdsr.data.resumable_loader import ResumableLoader, gather_points
from alkdsr.errors import AlkdsrError, NonFiniteLossError
from alkdsr.ops import alkconv_triton
from alkdsr.options.schema import Switches
from alkdsr.utils import random_state
from alkdsr.utils.modules import bare_module
from alkdsr.zoo import resolve as resolve_weights
from alkdsr.zoo.checkpoint import (
    CheckpointError,
    arch_config,
    atomic_torch_save,
    config_differences,
    mismatch_message,
    read_params,
    weights_with_config,
)

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


class ALKDSRModel(SRModel):
    """Single-image SR model for ALKDNet (any ``network_g`` works) with the switches above."""

    @staticmethod
    def check_options(opt: dict, train_opt: dict) -> None:
        """Called by ``alkdsr.options.checks`` before any work (see :func:`check_model_options`)."""
        check_model_options(opt, train_opt)

    def __init__(self, opt):
        is_train = opt['is_train']
        check_model_options(opt, opt.get('train') if is_train else None)
        self.switches = Switches.read(opt.get('train')) if is_train else Switches()
        self.channels_last = self.switches.channels_last
        self.nan_policy = self.switches.nan_policy
        self.skipped_steps = 0
        self.last_saved_iter = None
        self.train_loader = None  # the run's resumable training loader (use_training_loader), if any
        self.data_state = None  # the resume points of every rank's training loader, for the next training state
        self.device_pairs = None  # the training images, on the device, for DevicePairedImageDataset
        if self.switches.deterministic:
            use_deterministic_kernels()
        super().__init__(opt)

    # ------------------------------------------------------------------ set-up
    def init_training_settings(self):
        super().init_training_settings()
        switches = self.switches
        logger = get_root_logger()
        amp = switches.amp
        if amp == 'fp16' and self.device.type != 'cuda':
            logger.info('amp: fp16 needs CUDA; training in float32 on the CPU.')
            amp = None
        self.amp_dtype = AMP_DTYPES.get(amp)
        self.grad_scaler = torch.amp.GradScaler('cuda') if amp == 'fp16' else None
        if amp:
            logger.info(f'amp: autocast to {self.amp_dtype} on {self.device.type} for the training forward pass.')
        self.train_net = self.net_g
        if switches.compile:
            kwargs = switches.compile if isinstance(switches.compile, dict) else {}
            logger.info(f'compile: torch.compile(net_g, {kwargs}) for training; the first iterations compile.')
            self.train_net = torch.compile(self.net_g, **kwargs)
        if self.channels_last:
            logger.info('channels_last: network and inputs in NHWC memory format.')
        if switches.fused_alkconv:
            use_fused_kernels(self.get_bare_model(self.net_g))
            logger.info('fused_alkconv: ALKConv branches and norm as one Triton kernel, forward and backward.')
        if self.nan_policy == 'skip':
            logger.info('nan_policy: skip - optimizer steps with a non-finite loss are skipped.')

    def model_to_device(self, net):
        """As BasicSR's, plus channels_last, and DistributedDataParallel on CPU modules (gloo)."""
        net = net.to(self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if self.opt['dist']:
            find_unused = self.opt.get('find_unused_parameters', False)
            device_ids = [torch.cuda.current_device()] if self.device.type == 'cuda' else None  # None: CPU modules
            net = DistributedDataParallel(net, device_ids=device_ids, find_unused_parameters=find_unused)
        elif self.opt['num_gpu'] > 1:
            net = DataParallel(net)
        return net

    def get_bare_model(self, net):
        return bare_module(net)

    def use_training_loader(self, loader: ResumableLoader) -> None:
        """The run's training loader: its resume point goes into every training state, and a resume starts it
        there (the training loop hands it over before it resumes)."""
        self.train_loader = loader

    # ---------------------------------------------------------------- training
    def update_learning_rate(self, current_iter, warmup_iter=-1):
        """BasicSR's schedule, each scheduler stepping from its own last rate.

        BasicSR writes the warm-up rate over the scheduler's in the optimizer, and a scheduler that computes
        its rate from the optimizer's (``MultiStepRestartLR``) then goes on from the last warm-up rate:
        with ``warmup_iter: 4`` it kept 3/4 of the learning rate after the warm-up. The scheduler's own
        last rates are put back before it steps.
        """
        if 1 < current_iter <= warmup_iter:
            for scheduler in self.schedulers:
                for group, lr in zip(scheduler.optimizer.param_groups, scheduler.get_last_lr()):
                    group['lr'] = lr
        super().update_learning_rate(current_iter, warmup_iter)

    def _finite_everywhere(self, l_total) -> bool:
        """Whether the loss is finite on every rank: all ranks must take the same branch (a collective)."""
        non_finite = (~torch.isfinite(l_total.detach()).all()).to(torch.float32)
        if self.opt['dist']:
            dist.all_reduce(non_finite, op=dist.ReduceOp.MAX)
        return non_finite.item() == 0

    def feed_data(self, data):
        if DevicePairs.is_decisions(data):  # datasets: train: type: DevicePairedImageDataset
            if self.device_pairs is None and self.train_loader is not None:  # the run's own training set
                self.device_pairs = DevicePairs.from_dataset(self.train_loader.dataset.dataset, self.device)
            elif self.device_pairs is None:
                train_set = self.opt['datasets']['train']
                self.device_pairs = DevicePairs.from_options(train_set, self.opt['scale'], self.device)
            data = self.device_pairs.batch(data)
        super().feed_data(data)
        if self.channels_last:
            self.lq = self.lq.contiguous(memory_format=torch.channels_last)

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def optimize_parameters(self, current_iter):
        self.optimizer_g.zero_grad(set_to_none=True)
        with self._autocast():
            output = self.train_net(self.lq)
        self.output = output.float()
        l_total, loss_dict = self._losses(self.output, self.gt)
        if self._finite_everywhere(l_total):
            self._step(l_total)
        else:
            self._non_finite_loss(current_iter, loss_dict)
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def _losses(self, output, gt):
        """The total loss and its parts, as SRModel computes them (in float32): SRModel does it inside its
        ``optimize_parameters``, which this model replaces (autocast, compile, the NaN policy, ranks agreeing)."""
        l_total = 0
        loss_dict = OrderedDict()
        if self.cri_pix:
            l_pix = self.cri_pix(output, gt)
            l_total += l_pix
            loss_dict['l_pix'] = l_pix
        if self.cri_perceptual:
            l_percep, l_style = self.cri_perceptual(output, gt)
            if l_percep is not None:
                l_total += l_percep
                loss_dict['l_percep'] = l_percep
            if l_style is not None:
                l_total += l_style
                loss_dict['l_style'] = l_style
        return l_total, loss_dict

    def _step(self, l_total):
        if self.grad_scaler is not None:
            self.grad_scaler.scale(l_total).backward()
            self.grad_scaler.step(self.optimizer_g)
            self.grad_scaler.update()
        else:
            l_total.backward()
            self.optimizer_g.step()

    def _non_finite_loss(self, current_iter, loss_dict):
        values = ', '.join(f'{k}={v.detach().float().mean().item():.4g}' for k, v in loss_dict.items())
        logger = get_root_logger()
        if self.nan_policy == 'skip':
            self.skipped_steps += 1
            logger.warning(
                f'Non-finite loss at iteration {current_iter} ({values}): optimizer step skipped '
                f'({self.skipped_steps} skipped so far).'
            )
            if self.opt['dist']:
                self._complete_ddp_backward()
            return
        if self.last_saved_iter is None:
            kept = 'no checkpoint had been saved yet'
        else:
            label = 'latest' if self.last_saved_iter == -1 else self.last_saved_iter
            kept = f'the last checkpoint, {osp.join(self.opt["path"]["models"], f"net_g_{label}.pth")}, is intact'
        message = (
            f'non-finite loss at iteration {current_iter} ({values}); training stopped and {kept}. '
            'Lower the learning rate, or set train: nan_policy: skip, and resume with --auto_resume.'
        )
        logger.error(message)
        raise NonFiniteLossError(message)

    def _complete_ddp_backward(self):
        """Let DDP finish its gradient reduction with zero gradients, so a skipped step keeps ranks in sync."""
        zero = sum(p.sum() for p in self.net_g.parameters() if p.requires_grad) * 0.0
        zero.backward()
        self.optimizer_g.zero_grad(set_to_none=True)

    # -------------------------------------------------------------- validation
    def validation(self, dataloader, current_iter, tb_logger, save_img=False):
        """BasicSR's validation, leaving the random state as it was (it draws seeds for its DataLoader).

        BasicSR saves a checkpoint before it validates the same iteration: the training state of that
        iteration is written again after the validation, with the best scores that include it.
        """
        with random_state.preserved():
            super().validation(dataloader, current_iter, tb_logger, save_img)
        if self.is_train and current_iter == self.last_saved_iter and self.data_state is not None:
            self.save_training_state(self.data_state['ranks'][0]['epoch'], current_iter)

    def test(self):
        """Inference with the plain (uncompiled, unwrapped) network, or its EMA copy, in float32."""
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)
        was_training = net.training
        net.eval()
        with torch.no_grad():
            self.output = net(self.lq)
        if was_training:
            net.train()

    # --------------------------------------------------------- saving/loading
    def save(self, epoch, current_iter):
        """BasicSR's save, the training state with every rank's resume point (a collective when distributed).

        ``epoch`` is the resume point's when there is one: after the last batch of an epoch the loader may
        already stand at the start of the next one.
        """
        self.data_state = None
        if current_iter != -1 and self.train_loader is not None:
            point = self.train_loader.resume_point(self.train_loader.trained)
            points = gather_points(point, self.opt['dist'])
            self.data_state = {'ranks': points}
            epoch = points[0]['epoch']
        super().save(0 if epoch is None else epoch, current_iter)
        self.last_saved_iter = current_iter

    @master_only
    def save_network(self, net, net_label, current_iter, param_key='params'):
        """Save network(s) atomically as ``{param_key: state_dict, ..., 'arch': config}``: BasicSR's arguments and
        layout (an ALKDNet's state dict also carries its config, ``alkdsr.archs.stored_config``), but BasicSR's
        ``torch.save`` writes in place, so a killed save left a truncated file."""
        label = 'latest' if current_iter == -1 else current_iter
        save_path = osp.join(self.opt['path']['models'], f'{net_label}_{label}.pth')
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError('The lengths of net and param_key should be the same.')
        bare = [self.get_bare_model(n) for n in nets]
        payload = {key: weights_with_config(b) for key, b in zip(keys, bare)}  # the config among the weights
        if isinstance(bare[0], ALKDNet):
            payload['arch'] = arch_config(bare[0])  # and beside them, where earlier versions read it
        _save_with_retries(payload, save_path)

    @master_only
    def save_training_state(self, epoch, current_iter):
        """BasicSR's training state, written atomically, plus what an exact resume needs: the fp16 gradient
        scaler, every rank's resume point of the training loader, and validation's best scores."""
        if current_iter == -1:
            return
        state = {
            'epoch': epoch,
            'iter': current_iter,
            'optimizers': [o.state_dict() for o in self.optimizers],
            'schedulers': [s.state_dict() for s in self.schedulers],
        }
        if getattr(self, 'grad_scaler', None) is not None:
            state['grad_scaler'] = self.grad_scaler.state_dict()
        if self.data_state is not None:
            state['data'] = self.data_state
        if hasattr(self, 'best_metric_results'):  # validation's "Best: ... @ iter", which BasicSR forgets on resume
            state['best_metric_results'] = _plain_numbers(self.best_metric_results)
        _save_with_retries(state, osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))

    def resume_training(self, resume_state):
        super().resume_training(resume_state)
        if getattr(self, 'grad_scaler', None) is not None and 'grad_scaler' in resume_state:
            self.grad_scaler.load_state_dict(resume_state['grad_scaler'])
        self.last_saved_iter = resume_state['iter']
        if 'best_metric_results' in resume_state:
            self.best_metric_results = resume_state['best_metric_results']
        self._resume_data(resume_state)

    def _resume_data(self, resume_state):
        """Start the training loader where the saved run stood, or say in one line why the data order will differ."""
        if self.train_loader is None:
            return
        points = (resume_state.get('data') or {}).get('ranks')
        if not points:
            why = 'it holds no data position (written by BasicSR or an older alkdsr)'
        elif len(points) != self.opt['world_size']:
            why = f'it was saved by {len(points)} processes, this run has {self.opt["world_size"]}'
        else:
            why = self.train_loader.resume_from(points[self.opt['rank']])
        if why:
            get_root_logger().warning(
                f'{self.opt["path"]["resume_state"]}: {why}; training resumes from the start of epoch '
                f'{resume_state["epoch"]}, as BasicSR does, so the data order will differ from an uninterrupted run.'
            )

    def load_network(self, net, load_path, strict=True, param_key='params'):
        """Load weights through alkdsr.zoo.checkpoint (weights_only; official names translated).

        ``load_path`` may be a registered weights name (``path: pretrain_network_g: alkdnet-x4``): its cached
        file is read (``alkdsr.options.checks`` fetched and verified it before any work).
        """
        logger = get_root_logger()
        net = self.get_bare_model(net)
        load_path = str(resolve_weights(load_path))
        state, meta, used = read_params(load_path, param_key)
        if used != param_key:
            logger.info(f'Loading: {param_key} does not exist, use {used}.')  # BasicSR's fallback and words
        param_key = used or 'auto'
        logger.info(f'Loading {net.__class__.__name__} model from {load_path}, with param key: [{param_key}].')
        if isinstance(net, ALKDNet):
            state = to_alkdsr_names(state)
            _check_arch(net, meta, load_path, strict, state)
        self._print_different_keys_loading(net, state, strict)  # with strict=False, drops tensors of other sizes
        try:
            net.load_state_dict(state, strict=strict)
        except RuntimeError as e:
            first = str(e).splitlines()[0]
            raise CheckpointError(f'{load_path}: weights do not fit network_g ({first})') from None


def use_deterministic_kernels() -> None:
    """Kernels that give the same result on every run (BasicSR's training sets cuDNN's benchmark on).

    An operation without a deterministic kernel warns, naming itself, rather than stopping training.
    """
    os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')  # read when cuBLAS starts, before any matmul
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    get_root_logger().info('deterministic: cuDNN benchmark off, deterministic algorithms on.')


def check_model_options(opt: dict, train_opt: dict | None) -> None:
    """ALKDSRModel's own options under ``train:`` (``alkdsr.options.schema.Switches``: ``amp``, ``compile``, ...),
    and what they need of the machine, which no declaration can say: ``fused_alkconv`` runs on CUDA with Triton.
    ``ALKDSRModel.check_options``, called before any work; ``num_gpu`` against the machine is the tree's."""
    switches = Switches.read(train_opt)
    if switches.fused_alkconv and not (opt.get('num_gpu', 0) and alkconv_triton.available()):
        missing = 'Triton is not installed' if alkconv_triton.triton is None else 'no CUDA device is used'
        raise AlkdsrError(f'train: fused_alkconv needs a CUDA device and Triton ({missing}); set it to false')


def _plain_numbers(tree):
    """``tree`` with NumPy scalars (BasicSR's metrics return them) as Python numbers, which ``weights_only`` reads."""
    if isinstance(tree, dict):
        return {key: _plain_numbers(value) for key, value in tree.items()}
    return tree.item() if isinstance(tree, np.generic) else tree


def _save_with_retries(obj, path: str, tries: int = 3) -> None:
    """Atomic save; like BasicSR, retry a failed write, but fail loudly after the last try."""
    for attempt in range(1, tries + 1):
        try:
            atomic_torch_save(obj, path)
            return
        except OSError as e:
            if attempt == tries:
                raise
            get_root_logger().warning(f'Save error: {e}, remaining retry times: {tries - attempt}')
            time.sleep(1)


def _check_arch(net: ALKDNet, meta: dict | None, load_path, strict: bool, state: dict) -> None:
    """A checkpoint must be the same variant as network_g (alkdsr.options.checks tells pretrain_network_g earlier)."""
    differences = config_differences(net.config, state, meta)
    if not differences:
        return
    if strict:
        raise CheckpointError(mismatch_message(load_path, differences))
    get_root_logger().warning(mismatch_message(load_path, differences))
