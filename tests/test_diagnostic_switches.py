"""The fine-tune's diagnostic switches of issue 32 (nbs/05_step.ipynb, nbs/05a_presets.ipynb, nbs/05a_train.ipynb):
`freeze_qkv` keeps named blocks' attention projections as the init gave them, and `cls_logits` picks the logits the
classification loss reads. Neither is part of the method. Fast: a 2-block network, 4 steps."""
import contextlib
import io
import json

import torch

from cti_nb.core import load_torch, seed_everything

TINY = ['init=', 'img_size=32', 'patch_size=8', 'embed_dim=32', 'depth=2', 'num_heads=2', 'infuse_after=0', 'n_layers=1',
        'memory_size=4', 'batch_size=4', 'num_workers=0', 'keep_epoch_checkpoints=False']


def _train(data, out, *extra):
    from cti_nb.train import train_cli
    with contextlib.redirect_stdout(io.StringIO()):
        assert train_cli(['--preset', 'synth-voc', '--data-root', str(data), '--out', str(out), '--epochs', '1',
                          '--variant', 'baseline', '--no-progress', '--set', *TINY, *extra]) == 0
    return load_torch(out / 'model.pth')


def _initial(out):
    "The network the run started from: the same seed and kwargs, no init (the tiny runs train from scratch)."
    from cti_nb.model import CTIModel
    seed_everything(json.loads((out / 'config.json').read_text())['seed'])
    return CTIModel(**json.loads((out / 'model.json').read_text())['kwargs']).state_dict()


def test_freeze_qkv_keeps_only_the_named_blocks_attention(data, tmp_path):
    sd = _train(data, tmp_path / 'frozen', 'freeze_qkv=1-1')
    start = _initial(tmp_path / 'frozen')
    for k in ('blocks.1.attn.qkv.weight', 'blocks.1.attn.qkv.bias'):
        assert torch.equal(sd[k], start[k]), k
    for k in ('blocks.0.attn.qkv.weight', 'blocks.1.attn.proj.weight', 'blocks.1.mlp.fc1.weight'):
        assert not torch.equal(sd[k], start[k]), k
    assert json.loads((tmp_path / 'frozen' / 'config.json').read_text())['freeze_qkv'] == '1-1'


def test_cls_logits_changes_what_trains(data, tmp_path):
    both = _train(data, tmp_path / 'both')
    cls = _train(data, tmp_path / 'class', 'cls_logits=class')
    # the patch-CAM head gets no gradient from the class tokens' loss: it stays where it started
    heads = [k for k in both if k.startswith('head') and 'weight' in k]
    start = _initial(tmp_path / 'class')
    assert heads and any(not torch.equal(cls[k], both[k]) for k in heads)
    assert any(torch.equal(cls[k], start[k]) and not torch.equal(both[k], start[k]) for k in heads)


def test_classifier_report_divides_by_the_logits_the_loss_read(data, tmp_path):
    "The final classification loss is per logit tensor: 2 per view with both heads, 1 with `cls_logits` set."
    from cti_nb.runs import read_log
    from cti_nb.study import classifier_report
    for extra, per_view in (((), 2), (('cls_logits=class',), 1)):
        out = tmp_path / f'r{per_view}'
        _train(data, out, *extra)
        last = [r for r in read_log(out)[0] if 'loss_cls' in r][-1]['loss_cls']
        views = json.loads((out / 'config.json').read_text())['views']
        assert abs(classifier_report(out, data)['final_cls_loss'] - round(last / (views * per_view), 4)) < 1e-4
