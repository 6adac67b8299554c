"""The training and test loops: BasicSR's ``train_pipeline`` and ``test_pipeline``, step for step, built from
BasicSR's own parts, with alkdsr's checks before any folder exists.

For the user this is BasicSR: the same option files, ``experiments/<name>/`` layout, log lines, checkpoints
and training states, tensorboard and wandb (``init_tb_loggers``, ``MessageLogger``), ``torchrun`` launch,
and, with ``model_type: SRModel``, the same losses to the bit as BasicSR 1.4.2's own ``train_pipeline``
(tests/training/test_basicsr_identity.py). What differs, and why:

- the options are read and checked first (``alkdsr.training.parse``), the run folder claimed
  (``run_folder``), a resume read safely and checked (``resume``), all before BasicSR makes a folder;
- the training loader is resumable and the epochs exact (``data.create_dataloaders``): BasicSR's epoch
  count stops it before ``total_iter`` (it counts the incomplete batch its loader drops), this loop runs
  all of ``total_iter``, and a resumed run draws what the uninterrupted run drew;
- SIGTERM stops at the next iteration boundary, saving the last finished iteration (``stopping``).

The loop reads the typed option tree (``alkdsr.options.schema``); BasicSR's parts get ``opt``, the same
values as a plain dict.
"""

from __future__ import annotations

import datetime
import logging
import time
from os import path as osp

from alkdsr.errors import TrainingStopped
from alkdsr.options.schema import TestOptions, TrainOptions
from alkdsr.training.stopping import AFTER_LOOP, IN_LOOP, StopRequests


def train(tree: TrainOptions, opt: dict, option_file: str, stop: StopRequests, resume_state: dict | None) -> None:
    """Train as ``opt`` says (``alkdsr.training.parse.parse_options``), in ``opt['root_path']``, from
    ``resume_state`` (``alkdsr.training.resume.load_resume_state``) if there is one."""
    import torch
    from basicsr.data.prefetch_dataloader import CPUPrefetcher, CUDAPrefetcher
    from basicsr.models import build_model
    from basicsr.train import init_tb_loggers
    from basicsr.utils import (
        AvgTimer,
        MessageLogger,
        get_env_info,
        get_root_logger,
        get_time_str,
        make_exp_dirs,
        mkdir_and_rename,
    )
    from basicsr.utils.options import copy_opt_file, dict2str

    from alkdsr.files.fileio import remove_stale_temporaries
    from alkdsr.models.alkdsr_model import ALKDSRModel
    from alkdsr.training.data import create_dataloaders

    torch.backends.cudnn.benchmark = True
    if resume_state is not None:
        for folder in (opt['path']['models'], opt['path']['training_states']):
            remove_stale_temporaries(folder)  # left by a process killed while saving
    else:
        make_exp_dirs(opt)
        if tree.logger.use_tb_logger and 'debug' not in opt['name'] and opt['rank'] == 0:
            mkdir_and_rename(osp.join(opt['root_path'], 'tb_logger', opt['name']))
    copy_opt_file(option_file, opt['path']['experiments_root'])
    log_file = osp.join(opt['path']['log'], f'train_{opt["name"]}_{get_time_str()}.log')
    logger = get_root_logger(logger_name='basicsr', log_level=logging.INFO, log_file=log_file)
    logger.info(get_env_info())
    logger.info(dict2str(opt))
    tb_logger = init_tb_loggers(opt)

    train_loader, val_loaders, total_epochs, total_iters = create_dataloaders(opt, logger, stop)
    model = build_model(opt)
    if isinstance(model, ALKDSRModel):
        model.use_training_loader(train_loader)
    start_epoch, current_iter = 0, 0
    if resume_state:
        model.resume_training(resume_state)  # optimizers, schedulers (and, for ALKDSRModel, the loader's point)
        logger.info(f'Resuming training from epoch: {resume_state["epoch"]}, iter: {resume_state["iter"]}.')
        start_epoch, current_iter = resume_state['epoch'], resume_state['iter']
    start_iter = last_saved = current_iter
    train_loader.trained = 0

    msg_logger = MessageLogger(opt, current_iter, tb_logger)
    train_set = tree.datasets['train']
    if train_set.prefetch_mode == 'cuda':
        prefetcher = CUDAPrefetcher(train_loader, opt)
        logger.info('Use cuda prefetch dataloader')
        if train_set.pin_memory is not True:
            raise ValueError('Please set pin_memory=True for CUDAPrefetcher.')
    else:
        prefetcher = CPUPrefetcher(train_loader)

    logger.info(f'Start training from epoch: {start_epoch}, iter: {current_iter}')
    data_timer, iter_timer = AvgTimer(), AvgTimer()
    start_time = time.time()
    for epoch in range(start_epoch, total_epochs + 1):
        train_loader.sampler.set_epoch(epoch)
        prefetcher.reset()
        train_data = prefetcher.next()
        while train_data is not None:
            data_timer.record()
            current_iter += 1
            if current_iter > total_iters:
                break
            if stop.agreed:  # the boundary after the iteration whose check saw a SIGTERM
                _stop(model, opt, stop, current_iter - 1, start_iter, last_saved, logger)
            stop.phase = AFTER_LOOP if current_iter >= total_iters else IN_LOOP
            model.update_learning_rate(current_iter, warmup_iter=tree.train.warmup_iter)
            model.feed_data(train_data)
            model.optimize_parameters(current_iter)
            train_loader.trained += 1
            stop.agree(opt['dist'], model.device)
            iter_timer.record()
            if current_iter == 1:
                msg_logger.reset_start_time()  # for a more accurate eta (not in resume mode)
            if current_iter % tree.logger.print_freq == 0:
                log_vars = {'epoch': epoch, 'iter': current_iter, 'lrs': model.get_current_learning_rate()}
                log_vars.update({'time': iter_timer.get_avg_time(), 'data_time': data_timer.get_avg_time()})
                log_vars.update(model.get_current_log())
                msg_logger(log_vars)
            if current_iter % tree.logger.save_checkpoint_freq == 0:
                logger.info('Saving models and training states.')
                model.save(epoch, current_iter)
                last_saved = current_iter
            if tree.val is not None and current_iter % tree.val.val_freq == 0:
                if len(val_loaders) > 1:
                    logger.warning('Multiple validation datasets are *only* supported by SRModel.')
                for val_loader in val_loaders:
                    model.validation(val_loader, current_iter, tb_logger, tree.val.save_img)
            data_timer.start()
            iter_timer.start()
            train_data = prefetcher.next()

    stop.phase = AFTER_LOOP
    logger.info(f'End of training. Time consumed: {datetime.timedelta(seconds=int(time.time() - start_time))}')
    logger.info('Save the latest model.')
    model.save(epoch=-1, current_iter=-1)  # -1 stands for the latest
    if tree.val is not None:
        for val_loader in val_loaders:
            model.validation(val_loader, current_iter, tb_logger, tree.val.save_img)
    if tb_logger:
        tb_logger.close()


def _stop(model, opt: dict, stop: StopRequests, finished_iter: int, start_iter: int, last_saved: int, logger):
    """Save iteration ``finished_iter`` (unless saved already) and raise TrainingStopped."""
    models, states = opt['path']['models'], opt['path']['training_states']
    if finished_iter <= start_iter:
        done = f'no iteration finished since the start (iteration {finished_iter}), nothing to save'
    else:
        if last_saved != finished_iter:
            model.save(None, finished_iter)  # the epoch is the resume point's
        network, state = osp.join(models, f'net_g_{finished_iter}.pth'), osp.join(states, f'{finished_iter}.state')
        done = f'saved {network} and {state}'
    if opt['dist']:
        import torch.distributed as dist

        dist.barrier()  # no rank exits (and makes the launcher kill the others) before rank 0 saved
    message = f'stopped by {stop.signal_name(stop.agreed)} after iteration {finished_iter}: {done}; '
    message += 'resume with --auto_resume'
    logger.info(message)
    raise TrainingStopped(message, finished_iter)


def test(tree: TestOptions, opt: dict) -> None:
    """Evaluate as ``opt`` says: every test set through the model's validation, as BasicSR's test pipeline."""
    import torch
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.models import build_model
    from basicsr.utils import get_env_info, get_root_logger, get_time_str, make_exp_dirs
    from basicsr.utils.options import dict2str

    torch.backends.cudnn.benchmark = True
    make_exp_dirs(opt)
    log_file = osp.join(opt['path']['log'], f'test_{opt["name"]}_{get_time_str()}.log')
    logger = get_root_logger(logger_name='basicsr', log_level=logging.INFO, log_file=log_file)
    logger.info(get_env_info())
    logger.info(dict2str(opt))
    test_loaders = []
    for _, dataset_opt in sorted(opt['datasets'].items()):
        test_set = build_dataset(dataset_opt)
        test_loader = build_dataloader(
            test_set, dataset_opt, num_gpu=opt['num_gpu'], dist=opt['dist'], sampler=None, seed=opt['manual_seed']
        )
        logger.info(f'Number of test images in {dataset_opt["name"]}: {len(test_set)}')
        test_loaders.append(test_loader)
    model = build_model(opt)
    for test_loader in test_loaders:
        logger.info(f'Testing {test_loader.dataset.opt["name"]}...')
        model.validation(test_loader, current_iter=opt['name'], tb_logger=None, save_img=tree.val.save_img)
