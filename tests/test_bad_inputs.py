"""The bad-input matrix (tests/BAD_INPUTS.md): every row is one bad input to the CLI or the Python API, and each must
give exactly one line that names the file or value and what was expected (a `CTIError`; exit code 1 on the CLI).
CLI rows call the console script's `main` in-process (tests/test_*_cli.py cover real processes)."""
import errno
import json
import platform
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cti_nb.core import LOCK_NAME, CTIError, _proc_start, save_json

TINY = ['init=', 'img_size=32', 'patch_size=8', 'embed_dim=32', 'depth=2', 'num_heads=2', 'infuse_after=0', 'n_layers=1',
        'memory_size=4', 'batch_size=4', 'num_workers=0']


def cli(*args) -> str:
    """Run `cti-nb ARGS` (the console script's `main`, in this process: no interpreter start per row); assert exit
    code 1 and one stderr line; return that line."""
    import contextlib, io
    from cti_nb.cli import main
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out): rc = main([str(a) for a in args])
    lines = [l for l in err.getvalue().strip().splitlines() if l.strip()]
    assert rc == 1 and len(lines) == 1, (rc, out.getvalue()[-2000:], err.getvalue()[-3000:])
    return lines[0]


def api(fn, *args, **kw) -> str:
    "Call the Python API; assert it raises a one-line CTIError; return its message."
    with pytest.raises(CTIError) as e: fn(*args, **kw)
    msg = str(e.value)
    assert '\n' not in msg, msg
    return msg


def copy_data(data, tmp_path) -> Path:
    return Path(shutil.copytree(data, tmp_path / 'copy'))


def first_id(root) -> str:
    return (Path(root) / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split()[0]


def train_args(data, out, *extra):
    return ['train', '--preset', 'synth-voc', '--data-root', data, '--out', out, '--epochs', '1', '--no-progress',
            '--set', *TINY, *extra]


@pytest.fixture(scope='module')
def tiny_run(data, tmp_path_factory):
    "A finished one-epoch run of a 2-block network on the test data."
    from cti_nb.train import train_cli
    out = tmp_path_factory.mktemp('bad') / 'run'
    assert train_cli([str(a) for a in train_args(data, out)[1:]]) == 0
    return out


def live_holder(folder) -> subprocess.Popen:
    "A live process written into `folder`'s lock file, as if it were working there."
    p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
    save_json({'pid': p.pid, 'start': _proc_start(p.pid), 'host': platform.node(), 'command': 'cti-nb cams (test)',
               'since': 'now'}, Path(folder) / LOCK_NAME)
    return p


# --- the rows: name -> (function(data, tmp_path, tiny_run) returning the message, text the message must contain) ---

def missing_root(data, tmp, run):
    return cli(*train_args(tmp / 'no_such_root', tmp / 'r'))


def missing_list(data, tmp, run):
    from cti_nb.data import load_dataset
    return api(load_dataset, data, tmp / 'missing.txt')


def missing_split(data, tmp, run):
    from cti_nb.data import load_dataset
    return api(load_dataset, data, 'trainaug')


def missing_image(data, tmp, run):
    from cti_nb.data import load_dataset
    root = copy_data(data, tmp)
    (root / 'JPEGImages' / f'{first_id(root)}.jpg').unlink()
    return api(load_dataset, root, 'train')


def missing_mask(data, tmp, run):
    from cti_nb.data import load_dataset
    root = copy_data(data, tmp)
    (root / 'SegmentationClass' / f'{first_id(root)}.png').unlink()
    return api(load_dataset, root, 'train')


def corrupt_image(data, tmp, run):
    root = copy_data(data, tmp)
    (root / 'JPEGImages' / f'{first_id(root)}.jpg').write_bytes(b'\xff\xd8 not really a jpeg')
    lst = tmp / 'one.txt'; lst.write_text(first_id(root) + '\n')
    return cli('cams', '--run', run, '--data-root', root, '--list', lst, '--out', tmp / 'cams', '--workers', 0, '--quiet')


def _write_mask(root, values=None, size=None):
    from cti_nb.data import read_mask_png, save_mask_png
    p = root / 'SegmentationClass' / f'{first_id(root)}.png'
    m = read_mask_png(p).copy()
    if values is not None: m[:4, :4] = values
    if size is not None: m = np.asarray(Image.fromarray(m).resize(size, Image.NEAREST))
    save_mask_png(m, p)


def mask_value_above_classes(data, tmp, run):
    from cti_nb.data import load_dataset
    root = copy_data(data, tmp)
    _write_mask(root, values=13)                   # 12 classes: 0..12 and 255 are valid
    return api(load_dataset(root, 'train').labels, 0)


def mask_size_mismatch(data, tmp, run):
    from cti_nb.data import load_dataset
    root = copy_data(data, tmp)
    _write_mask(root, size=(40, 48))
    return api(load_dataset(root, 'train').sample, 0)


def label_length_mismatch(data, tmp, run):
    from cti_nb.data import load_dataset
    f = tmp / 'labels.json'
    f.write_text(json.dumps({first_id(data): [0, 1, 0]}))
    return api(load_dataset, data, 'train', labels_file=f)


def empty_list(data, tmp, run):
    lst = tmp / 'empty.txt'; lst.write_text('# nothing here\n\n')
    return cli('cams', '--run', run, '--data-root', data, '--list', lst, '--out', tmp / 'cams', '--quiet')


def not_a_checkpoint(data, tmp, run):
    f = tmp / 'notes.pth'; f.write_text('these are my notes, not weights')
    return cli('cams', '--checkpoint', f, '--data-root', data, '--split', 'train', '--out', tmp / 'cams', '--quiet')


def truncated_checkpoint(data, tmp, run):
    raw = (run / 'model.pth').read_bytes()
    f = tmp / 'half.pth'; f.write_bytes(raw[:len(raw) // 2])
    return cli('cams', '--checkpoint', f, '--data-root', data, '--split', 'train', '--out', tmp / 'cams', '--quiet')


def checkpoint_other_class_count(data, tmp, run):
    import torch
    from cti_nb.model import CTIModel
    f = tmp / 'five_classes.pth'
    torch.save(CTIModel(num_classes=5, depth=2, embed_dim=32, num_heads=2, img_size=32, patch_size=8).state_dict(), f)
    return cli('cams', '--checkpoint', f, '--data-root', data, '--split', 'train', '--out', tmp / 'cams', '--quiet')


def set_bad_value(data, tmp, run):
    return cli(*train_args(data, tmp / 'r', 'batch_size=0'))


def set_unknown_key(data, tmp, run):
    return cli(*train_args(data, tmp / 'r', 'learning_rat=0.1'))


def set_without_value(data, tmp, run):
    return cli(*train_args(data, tmp / 'r', 'lr'))


def set_wrong_type(data, tmp, run):
    return cli(*train_args(data, tmp / 'r', 'lr=abc'))


def threshold_grammar_cli(data, tmp, run):
    return cli('evaluate', '--cams', tmp, '--gt', data / 'SegmentationClass', '--list', data / 'ImageSets' /
               'Segmentation' / 'train.txt', '--thresholds', '0.3:0.5', '--num-classes', 13, '--quiet')


def threshold_grammar_api(data, tmp, run):
    from cti_nb.metrics import parse_thresholds
    return api(parse_thresholds, '0.1,abc')


def unwritable_output_folder(data, tmp, run):
    blocker = tmp / 'a_file'; blocker.write_text('x')
    return cli(*train_args(data, blocker / 'run'))


def unwritable_cams_folder(data, tmp, run):
    blocker = tmp / 'a_file'; blocker.write_text('x')
    return cli('cams', '--run', run, '--data-root', data, '--split', 'val', '--out', blocker / 'cams', '--quiet')


def disk_full_during_checkpoint(data, tmp, run, monkeypatch=None):
    "The second checkpoint write fails half-way with ENOSPC: one line, and the first checkpoint is intact."
    import torch
    from cti_nb.core import load_torch
    from cti_nb.presets import get_config
    from cti_nb.train import train
    cfg = get_config('synth-voc', data_root=str(data), out=str(tmp / 'r'), epochs=2, progress=False)
    cfg = cfg.apply_overrides(TINY).check()
    real, calls = torch.save, []

    def full_disk(obj, f, *a, **k):
        if 'last.pth' in Path(f).name: calls.append(f)
        if len(calls) == 2:                                     # the epoch-2 checkpoint
            Path(f).write_bytes(b'half a checkpoint')
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real(obj, f, *a, **k)
    torch.save = full_disk
    try: msg = api(train, cfg)
    finally: torch.save = real
    ck = load_torch(tmp / 'r' / 'checkpoints' / 'last.pth')
    assert ck['position']['epoch'] == 1, ck['position']          # the epoch-1 checkpoint survived
    assert not list((tmp / 'r' / 'checkpoints').glob('.*.tmp')) and not (tmp / 'r' / 'model.pth').exists()
    return msg


def resume_other_config(data, tmp, run):
    return cli(*train_args(data, run, 'lr=0.5', '--resume'))


def folder_in_use(data, tmp, run):
    holder = live_holder(tmp / 'cams')
    try: return cli('cams', '--run', run, '--data-root', data, '--split', 'val', '--out', tmp / 'cams', '--quiet')
    finally: holder.send_signal(signal.SIGKILL); holder.wait()


def coco_unknown_category(data, tmp, run):
    pytest.importorskip('pycocotools')
    from cti_nb.core import COCO_CATEGORY_IDS, COCO_CLASSES
    root = tmp / 'coco'
    (root / 'val2014').mkdir(parents=True); (root / 'annotations').mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / 'val2014' / 'COCO_val2014_000000000007.jpg')
    inst = {'images': [{'id': 7, 'height': 16, 'width': 16}],
            'categories': [{'id': c, 'name': n} for c, n in zip(COCO_CATEGORY_IDS, COCO_CLASSES)] + [{'id': 99, 'name': 'unicorn'}],
            'annotations': [{'id': 1, 'image_id': 7, 'category_id': 99, 'iscrowd': 0, 'area': 36.,
                             'segmentation': [[2, 2, 8, 2, 8, 8, 2, 8]], 'bbox': [2, 2, 6, 6]}]}
    (root / 'annotations' / 'instances_val2014.json').write_text(json.dumps(inst))
    return cli('coco-masks', '--coco-root', root, '--split', 'val', '--no-progress')


def missing_reference_manifest(data, tmp, run):
    from cti_nb.drift import compare_manifests
    save_json({'metrics': []}, tmp / 'new' / 'manifest.json')
    return api(compare_manifests, tmp / 'new', tmp / 'figures' / 'smoke', out=lambda s: None)


def unknown_backbone_name(data, tmp, run):
    return cli(*train_args(data, tmp / 'r', 'init=imagenet-xl'))


def unknown_released_name(data, tmp, run):
    return cli('cams', '--checkpoint', 'synth-voc-nothing', '--data-root', data, '--split', 'train', '--out', tmp / 'cams',
               '--quiet')


def checkpoint_recipe_names_missing_blocks(data, tmp, run):
    """An exported checkpoint of the 2-block run whose recorded CAM recipe asks for the class-to-patch attention of 5
    blocks (written by hand: `export_checkpoint` and `record_cam_recipe` refuse such a recipe)."""
    from safetensors.torch import load_file, save_file
    from cti_nb.checkpoints import export_checkpoint, released_info
    good = export_checkpoint(run, tmp / 'good.safetensors')
    meta = {**released_info(good), 'cam_recipe': {'n_layers': 5, 'affinity_layers': 0}}
    save_file(load_file(str(good)), str(tmp / 'recipe.safetensors'), metadata={'cti_nb': json.dumps(meta)})
    return cli('cams', '--checkpoint', tmp / 'recipe.safetensors', '--data-root', data, '--split', 'train', '--out',
               tmp / 'cams', '--quiet')


def backbone_of_another_width(data, tmp, run):
    "A DeiT-layout .safetensors of width 48 into the width-32 test network."
    from safetensors.torch import save_file
    from cti_nb.checkpoints import cti_to_deit_state_dict
    from cti_nb.model import CTIModel
    sd = cti_to_deit_state_dict(CTIModel(num_classes=2, img_size=32, patch_size=8, embed_dim=48, depth=2,
                                         num_heads=2).state_dict())
    save_file(sd, str(tmp / 'wide.safetensors'))
    return cli(*train_args(data, tmp / 'r', f'init={tmp / "wide.safetensors"}'))


def backbone_with_a_locality_prior(data, tmp, run):
    "A backbone whose 2 blocks carry ConViT's locality prior into the test network built without it (local_blocks=0)."
    from safetensors.torch import save_file
    from cti_nb.classifier import ViTClassifier
    sd = ViTClassifier(num_classes=3, img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                       local_blocks=2).state_dict()
    save_file({k: v.contiguous() for k, v in sd.items() if not k.startswith('head')}, str(tmp / 'local.safetensors'))
    return cli(*train_args(data, tmp / 'r', f'init={tmp / "local.safetensors"}', 'local_blocks=0'))


def truncated_backbone(data, tmp, run):
    from safetensors.torch import save_file
    import torch
    save_file({'cls_token': torch.zeros(1, 1, 32), 'pos_embed': torch.zeros(1, 17, 32)}, str(tmp / 'b.safetensors'))
    (tmp / 'b.safetensors').write_bytes((tmp / 'b.safetensors').read_bytes()[:40])
    return cli(*train_args(data, tmp / 'r', f'init={tmp / "b.safetensors"}'))


def synth_in_root_without_lists(data, tmp, run):
    (tmp / 'in').mkdir()
    return cli('pretrain', '--data-root', tmp / 'in', '--eval-only', '--init', run)


ROWS = {
    'missing dataset root (train CLI)': (missing_root, 'no_such_root: dataset root not found'),
    'missing list file (API)': (missing_list, 'missing.txt: no such list file'),
    'missing named split (API)': (missing_split, "no list ImageSets/Segmentation/trainaug.txt for split 'trainaug'"),
    'missing image of a listed id (API)': (missing_image, 'image file not found (listed id'),
    'missing mask of a listed id (API)': (missing_mask, 'mask file not found (listed id'),
    'corrupt image (cams CLI)': (corrupt_image, 'unreadable or corrupt image'),
    'mask value outside 0..C and 255 (API)': (mask_value_above_classes, 'mask value 13 outside 0..12 and 255'),
    'image/mask size mismatch (API)': (mask_size_mismatch, 'differs from image size (48, 48)'),
    'label-vector length mismatch (API)': (label_length_mismatch, 'has length 3, expected 12'),
    'empty list file (cams CLI)': (empty_list, 'empty.txt: empty list'),
    'non-checkpoint file (cams CLI)': (not_a_checkpoint, 'notes.pth: not a readable torch checkpoint'),
    'truncated checkpoint (cams CLI)': (truncated_checkpoint, 'half.pth: not a readable torch checkpoint'),
    'checkpoint of another class count (cams CLI)': (checkpoint_other_class_count,
                                                     'a network of 5 classes, but'),
    'bad --set value (train CLI)': (set_bad_value, 'batch_size=0'),
    'unknown --set key (train CLI)': (set_unknown_key, 'unknown setting(s) learning_rat'),
    '--set without a value (train CLI)': (set_without_value, "override 'lr': expected key=value"),
    'bad threshold grammar (evaluate CLI)': (threshold_grammar_cli, "thresholds '0.3:0.5': expected start:stop:step"),
    'bad threshold grammar (API)': (threshold_grammar_api, "thresholds '0.1,abc'"),
    'unwritable output folder (train CLI)': (unwritable_output_folder, 'cannot create this output folder'),
    'unwritable output folder (cams CLI)': (unwritable_cams_folder, 'cannot create this output folder'),
    'disk full while writing a checkpoint (API)': (disk_full_during_checkpoint,
                                                   'last.pth: cannot write (No space left on device); the previous file is unchanged'),
    '--resume with another config (train CLI)': (resume_other_config, 'lr=0.5 (the run has 0.0005)'),
    'output folder in use by a live process (cams CLI)': (folder_in_use, 'in use by process'),
    'COCO json with an unknown category (coco-masks CLI)': (coco_unknown_category, 'unknown category id 99'),
    'drift check without a reference manifest (API)': (missing_reference_manifest, 'no reference manifest'),
    'unknown backbone name (train CLI --init)': (unknown_backbone_name,
                                                 'imagenet-xl: no such checkpoint file, nor a shipped name (backbones: '
                                                 'synth-in, synth-in-local, synth-in-group; released checkpoints: '
                                                 'synth-voc-baseline, '
                                                 'synth-voc-cti)'),
    'checkpoint whose CAM recipe names blocks it does not have (cams CLI)': (
        checkpoint_recipe_names_missing_blocks, 'recipe.safetensors: cam_recipe n_layers=5 names blocks the network does '
                                                'not have (it has 2)'),
    'backbone of another width (train CLI --init)': (backbone_of_another_width,
                                                     'wide.safetensors: DeiT checkpoint: key'),
    'backbone with a locality prior into a network without (train CLI --init)': (
        backbone_with_a_locality_prior, 'local.safetensors: DeiT checkpoint: a locality prior in its first 2 blocks, the '
                                        'network in 0; build the network with local_blocks=2 (cti-nb train --set '
                                        'local_blocks=2)'),
    'truncated backbone file (train CLI --init)': (truncated_backbone, 'b.safetensors: not a readable safetensors'),
    'synth-in root without lists (pretrain CLI)': (synth_in_root_without_lists, 'ImageSets/val.txt: list not found'),
    'unknown released checkpoint name (cams CLI)': (unknown_released_name,
                                                    'synth-voc-nothing: no such checkpoint file, nor a released '
                                                    'checkpoint name (synth-voc-baseline, synth-voc-cti)'),
    '--set value of the wrong type (train CLI)': (set_wrong_type, "--set lr='abc': expected a float (or None)"),
}


@pytest.mark.parametrize('row', list(ROWS))
def test_bad_input(row, data, tmp_path, tiny_run):
    fn, needle = ROWS[row]
    msg = fn(data, tmp_path, tiny_run)
    print(f'{row}: {msg}')
    assert needle in msg, msg


def test_mask_value_255_is_ignore_not_error(data, tmp_path):
    from cti_nb.data import load_dataset
    root = copy_data(data, tmp_path)
    _write_mask(root, values=255)
    assert load_dataset(root, 'train').mask(0)[0, 0] == 255
