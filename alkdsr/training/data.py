"""The run's datasets and loaders: checked before any folder exists, then built by BasicSR, the training
loader made resumable and given as many epochs as ``total_iter`` needs."""

from __future__ import annotations

from alkdsr.data.device_pairs import DevicePairedImageDataset
from alkdsr.data.paired_image_dataset import ALKDSRPairedImageDataset, check_folder_pairs, check_one_batch, is_lmdb
from alkdsr.data.resumable_loader import ResumableLoader
from alkdsr.errors import AlkdsrError


def check_datasets(opt: dict) -> None:
    """Build each dataset of a checking alkdsr type once, for its checks only, before any folder or log.

    BasicSR builds the datasets after it has created (or archived) the experiment folder; a dataset that
    cannot work must stop the run before that. The class is called directly: ``build_dataset`` would set
    up BasicSR's logger before its log file exists.
    """
    from basicsr.utils.registry import DATASET_REGISTRY

    for phase, dataset_opt in opt['datasets'].items():
        kind = dataset_opt.get('type')
        if kind == 'DevicePairedImageDataset':
            if opt.get('model_type') != 'ALKDSRModel':
                raise AlkdsrError(
                    f'datasets: {dataset_opt.get("phase", "train")}: type DevicePairedImageDataset needs '
                    f'model_type: ALKDSRModel (got {opt.get("model_type")!r})'
                )
            DevicePairedImageDataset.check_options(dataset_opt)
        if kind == 'PairedImageDataset' and not is_lmdb(dataset_opt) and dataset_opt.get('meta_info_file') is None:
            check_folder_pairs(dataset_opt)  # BasicSR's own dataset asserts it pair by pair, once the run has begun
        if kind in DATASET_REGISTRY and issubclass(DATASET_REGISTRY.get(kind), ALKDSRPairedImageDataset):
            # the checks are ALKDSRPairedImageDataset's; DevicePairedImageDataset would also decode every pair
            dataset = ALKDSRPairedImageDataset(dataset_opt)
            if phase == 'train' and opt.get('is_train'):
                check_one_batch(len(dataset), dataset_opt, opt.get('world_size', 1))
            elif dataset.gt_sizes:
                check_crop_borders(opt, dataset_opt, dataset.gt_sizes)


def check_crop_borders(opt: dict, dataset_opt: dict, gt_sizes: dict) -> None:
    """A metric's ``crop_border`` leaves pixels of every image to score (SSIM: its 11 x 11 window): BasicSR
    scores an empty crop as NaN, logs it and exits 0."""
    smallest, (width, height) = min(gt_sizes.items(), key=lambda item: min(item[1]))
    for name, metric in ((opt.get('val') or {}).get('metrics') or {}).items():
        crop = metric.get('crop_border', 0)
        least = 2 * crop + (11 if 'ssim' in metric.get('type', '') else 1)
        if min(width, height) < least:
            raise AlkdsrError(
                f'val:metrics:{name}:crop_border {crop} leaves nothing of {smallest} ({width}x{height}) in '
                f'datasets: {dataset_opt.get("phase")}: {dataset_opt.get("name")} to score: {metric.get("type")} '
                f'needs {least} pixels a side there; lower crop_border'
            )


def create_dataloaders(opt: dict, logger, stop) -> tuple[ResumableLoader, list, int, int]:
    """``(training loader, validation loaders, epochs, total_iter)``: BasicSR's ``create_train_val_dataloader``,
    its training loader resumable (``alkdsr.data.resumable_loader``, sharing ``stop``) and the epochs exact.

    BasicSR counts ``ceil(pairs / batch)`` iterations per epoch, but its loader drops the last incomplete
    batch (``drop_last=True``): with 5 pairs and batch 4 it planned 2 iterations an epoch, ran 1, and ended
    after about half of ``total_iter``. The epochs are counted from the loader's own length.
    """
    from basicsr.train import create_train_val_dataloader

    train_loader, _, val_loaders, _, total_iters = create_train_val_dataloader(opt, logger)
    train_loader = ResumableLoader.like(train_loader, stop=stop)
    per_epoch = len(train_loader)
    if per_epoch == 0:
        check_one_batch(len(train_loader.dataset), opt['datasets']['train'], opt['world_size'])
    total_epochs = -(-total_iters // per_epoch)
    logger.info(f'Iterations per epoch (full batches): {per_epoch}; epochs: {total_epochs}')
    return train_loader, val_loaders, total_epochs, total_iters
