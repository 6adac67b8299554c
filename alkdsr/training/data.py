"""The run's datasets and loaders: checked before any folder exists, then built by BasicSR, the training
loader made resumable and given as many epochs as ``total_iter`` needs."""

from __future__ import annotations

from alkdsr.data.device_pairs import DevicePairedImageDataset
from alkdsr.data.paired_image_dataset import ALKDSRPairedImageDataset, check_one_batch
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
        if kind in DATASET_REGISTRY and issubclass(DATASET_REGISTRY.get(kind), ALKDSRPairedImageDataset):
            # the checks are ALKDSRPairedImageDataset's; DevicePairedImageDataset would also decode every pair
            dataset = ALKDSRPairedImageDataset(dataset_opt)
            if phase == 'train' and opt.get('is_train'):
                check_one_batch(len(dataset), dataset_opt, opt.get('world_size', 1))


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
