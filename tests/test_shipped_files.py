"""Every shipped weight file is hash-pinned, the backbone's head file included (issue 34, item 7).

Each weight file in cti_nb/weights/ must be listed by `cti_nb.checkpoints.pinned_files` and match its pin; the two
manifests (released.json, the backbone's .json) are records, not inputs, and must record the pinned hashes and the
files' sizes; nothing else ships there but the backbone's training curve (a picture for the docs)."""
import json

import pytest

from cti_nb.checkpoints import RELEASED_CHECKPOINTS, SHIPPED_BACKBONES, WEIGHTS_DIR, file_sha256, pinned_files

WEIGHT_SUFFIXES = ('.safetensors', '.pth', '.pt', '.bin', '.ckpt', '.npz')
MANIFESTS = {'released.json'} | {e['file'].rsplit('.', 1)[0] + '.json' for e in SHIPPED_BACKBONES.values()}
PICTURES = {e['file'].rsplit('.', 1)[0] + '_curve.png' for e in SHIPPED_BACKBONES.values()}


def shipped() -> list[str]:
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if p.is_file() and not p.name.startswith('.'))


def test_every_weight_file_is_pinned_and_matches():
    pins = pinned_files()
    weights = [f for f in shipped() if f.endswith(WEIGHT_SUFFIXES)]
    assert 'synth-in_vit12-d64_head.safetensors' in weights
    assert sorted(pins) == weights, (sorted(pins), weights)   # no unpinned weight file, no pin without its file
    for f in weights: assert file_sha256(WEIGHTS_DIR / f) == pins[f]['sha256'], f


def test_nothing_else_ships_in_the_weights_folder():
    rest = set(shipped()) - set(pinned_files())
    assert rest <= MANIFESTS | PICTURES, rest - MANIFESTS - PICTURES


def test_manifests_record_the_pinned_hashes():
    released = json.loads((WEIGHTS_DIR / 'released.json').read_text())
    assert set(released) == set(RELEASED_CHECKPOINTS)
    from cti_nb.checkpoints import released_info
    for name, e in RELEASED_CHECKPOINTS.items():
        rec = released[name]
        assert (rec['file'], rec['sha256'], rec['bytes']) == (e['file'], e['sha256'], (WEIGHTS_DIR / e['file']).stat().st_size)
        assert rec['cam_recipe'] == released_info(name)['cam_recipe']          # the same recipe as the file's metadata
    for name, e in SHIPPED_BACKBONES.items():
        m = json.loads((WEIGHTS_DIR / e['file']).with_suffix('.json').read_text())
        assert (m['file'], m['sha256'], m['bytes']) == (e['file'], e['sha256'], (WEIGHTS_DIR / e['file']).stat().st_size)
        assert m['name'] == name, (m['name'], name)   # the manifest names the backbone it describes


@pytest.mark.parametrize('kind', ['backbone', 'head'])
def test_an_altered_shipped_file_is_refused_on_load(kind, tmp_path, monkeypatch):
    "The loaders check a pinned file by name and by path; here on a copy of the weights folder, altered."
    import shutil
    import cti_nb.checkpoints as ck
    from cti_nb.core import CTIError
    d = tmp_path / 'weights'
    shutil.copytree(WEIGHTS_DIR, d)
    monkeypatch.setattr(ck, 'WEIGHTS_DIR', d)
    e = SHIPPED_BACKBONES['synth-in']
    f = d / (e['file'] if kind == 'backbone' else e['head']['file'])
    ck.load_backbone_state_dict(f)                                  # intact: loads
    f.write_bytes(f.read_bytes()[:-4] + b'\0\0\0\0')
    with pytest.raises(CTIError, match='does not match the expected .* of the shipped backbone') as err:
        ck.load_backbone_state_dict('synth-in' if kind == 'backbone' else f)
    assert str(f) in str(err.value) and '\n' not in str(err.value)
    if kind == 'head':                        # where the head is read: `cti-nb pretrain --eval-only --init synth-in`
        from cti_nb.pretrain import _classifier_from
        with pytest.raises(CTIError, match="of the shipped backbone head 'synth-in'"): _classifier_from('synth-in')
