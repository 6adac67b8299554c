"""Checkpoint reading, recognition and saving (alkdsr.zoo.checkpoint)."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import bsrn_weights, official_weights, requires_shared

from alkdsr.archs import PRESETS, ALKDNet
from alkdsr.zoo.checkpoint import CheckpointError, detect_config, load_model, read_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures('no_grad')  # autograd off in these tests only (conftest.no_grad)


@requires_shared
@pytest.mark.parametrize('scale', [2, 3, 4])
def test_official_checkpoints_are_recognised(scale):
    alk = load_model(official_weights(scale))
    assert alk.upscale == scale and alk.config['preset'] == 'alkdnet'
    bsrn = load_model(bsrn_weights(scale))
    assert bsrn.upscale == scale and bsrn.config['preset'] == 'bsrn'


@pytest.mark.parametrize('preset', sorted(PRESETS))
@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_saved_presets_are_recognised_without_flags(tmp_path, preset, suffix):
    torch.manual_seed(1)
    scale = 3
    net = ALKDNet(preset=preset, upscale=scale).eval()
    path = tmp_path / f'net{suffix}'
    save_checkpoint(net, path)
    loaded = load_model(path)
    assert loaded.config == net.config
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(loaded(x), net(x))


def test_bare_state_dict_and_module_prefix(tmp_path):
    net = ALKDNet(upscale=2, preset='bsrn').eval()
    torch.save({f'module.{k}': v for k, v in net.state_dict().items()}, tmp_path / 'bare.pth')
    loaded = load_model(tmp_path / 'bare.pth')
    assert loaded.config['preset'] == 'bsrn' and loaded.upscale == 2


def test_params_ema_is_preferred(tmp_path):
    a, b = ALKDNet(upscale=2).eval(), ALKDNet(upscale=2).eval()
    torch.save({'params': a.state_dict(), 'params_ema': b.state_dict()}, tmp_path / 'ema.pth')
    state, _ = read_checkpoint(tmp_path / 'ema.pth')
    assert all(torch.equal(state[k], v) for k, v in b.state_dict().items())


def test_detect_config_reads_shapes():
    net = ALKDNet(upscale=3, num_feat=32, num_block=4, kernel_size=7, preset='bsrn_alk7')
    cfg = detect_config(net.state_dict())
    assert (cfg['upscale'], cfg['num_feat'], cfg['num_block'], cfg['kernel_size']) == (3, 32, 4, 7)
    assert cfg['refine_conv'] == 'alkconv' and cfg['pixel_norm'] is False


def test_stored_config_that_contradicts_weights_is_refused(tmp_path):
    net = ALKDNet(upscale=2)
    torch.save({'params': net.state_dict(), 'arch': {'upscale': 4}}, tmp_path / 'bad.pth')
    with pytest.raises(CheckpointError, match='disagrees with the weights on upscale'):
        load_model(tmp_path / 'bad.pth')


class Evil:
    def __reduce__(self):
        return (print, ('pwned',))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'params': {'x': torch.zeros(1)}, 'payload': Evil()}, path)
    with pytest.raises(CheckpointError, match='refused'):
        read_checkpoint(path)


def test_truncated_and_empty_and_foreign_files(tmp_path):
    net = ALKDNet(upscale=2)
    good = tmp_path / 'good.pth'
    save_checkpoint(net, good)
    data = good.read_bytes()
    (tmp_path / 'trunc.pth').write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        load_model(tmp_path / 'trunc.pth')
    (tmp_path / 'empty.pth').write_bytes(b'')
    with pytest.raises(CheckpointError, match='empty file'):
        load_model(tmp_path / 'empty.pth')
    (tmp_path / 'plain.pth').write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointError):
        load_model(tmp_path / 'plain.pth')
    torch.save({'params': {'conv.weight': torch.zeros(3, 3, 3, 3)}}, tmp_path / 'other.pth')
    with pytest.raises(CheckpointError, match='not an ALKDNet/BSRN state dict'):
        load_model(tmp_path / 'other.pth')
    with pytest.raises(CheckpointError, match='no such checkpoint'):
        load_model(tmp_path / 'missing.pth')


@pytest.mark.parametrize('writer', ['save_checkpoint', 'atomic_torch_save'])
def test_a_save_that_dies_mid_write_keeps_the_old_file(writer, tmp_path, monkeypatch):
    """torch.save writes half of the new file's bytes, then the process is interrupted: the old
    checkpoint (or training state) is untouched and the half-written temporary file is gone."""
    from alkdsr.zoo.checkpoint import atomic_torch_save

    path = tmp_path / 'w.pth'
    save_checkpoint(ALKDNet(upscale=2), path)
    before = path.read_bytes()
    real_save, cut = torch.save, {}

    def dies_mid_write(obj, f, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        with open(f, 'wb') as out:
            out.write(buffer.getvalue()[: buffer.tell() // 2])
            out.flush()
            cut.update(file=Path(f), size=os.fstat(out.fileno()).st_size, full=buffer.tell())
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        if writer == 'save_checkpoint':
            save_checkpoint(ALKDNet(upscale=4), path)
        else:
            atomic_torch_save({'iter': 6, 'epoch': 1, 'optimizers': [], 'schedulers': []}, path)
    assert 0 < cut['size'] < cut['full']  # the interrupted write had put part of the file on disk
    assert cut['file'].parent == tmp_path and cut['file'] != path and not cut['file'].exists()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ['w.pth']
    assert load_model(path).upscale == 2


def test_a_file_that_is_not_a_checkpoint_is_named_as_such(tmp_path):
    (tmp_path / 'photo.pth').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\x00' * 64)
    with pytest.raises(CheckpointError, match=r'not a checkpoint \(neither a PyTorch zip archive or pickle'):
        read_checkpoint(tmp_path / 'photo.pth')


def test_an_empty_name_is_refused_as_such(tmp_path, monkeypatch, capsys):
    """``Path('')`` is '.', the current folder: load_model('') said "a folder" and --weights '' the same."""
    from corpus import API_MISTAKES

    from alkdsr.cli.main import main

    monkeypatch.chdir(tmp_path)
    expect = API_MISTAKES["load_model('')"].expect
    with pytest.raises(ValueError) as info:  # CheckpointError is a ValueError, for Python callers
        load_model('')
    assert str(info.value).startswith(expect) and 'alkdnet-x4' in str(info.value) and '\n' not in str(info.value)
    (tmp_path / 'in.png').write_bytes(b'not read')
    assert main(['upscale', '-i', 'in.png', '-o', 'out', '--weights', '']) == 2
    assert capsys.readouterr().err == f'alkdsr upscale: error: {info.value}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in.png']
