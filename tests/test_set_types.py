"""`--set key=value` is checked against the field's annotation (`Config.apply_overrides`, nbs/00_core.ipynb). Every
configuration class of the package and every preset, profile and lever goes through it unchanged: each field's value
written as `key=repr(value)` comes back equal, and the overrides the profiles and levers apply are accepted."""
import dataclasses

import pytest

from cti_nb.core import Config, CTIError
from cti_nb.levers import LEVERS, Lever
from cti_nb.presets import PRESETS, TrainConfig, get_config
from cti_nb.pretrain import PretrainConfig, get_pretrain_config
from cti_nb.profiles import PROFILES, Profile, run_sets
from cti_nb.segment import SEG_PRESETS, SegConfig, seg_config
from cti_nb.step import StepSettings


def configs():
    "Every configuration the package defines (presets, profiles, levers, defaults), by a readable name."
    out = {f'TrainConfig preset {p}': get_config(p) for p in PRESETS}
    out.update({f'TrainConfig preset {p} {v}': get_config(p, variant=v) for p in PRESETS
                for v in ('baseline', 'bgt', 'intra')})
    out.update({f'SegConfig preset {p}': seg_config(p) for p in SEG_PRESETS})
    out.update({f'Profile {n}': prof for n, prof in PROFILES.items()})
    out.update({f'Lever {n}': lv for n, lv in LEVERS.items()})
    out['PretrainConfig'] = get_pretrain_config()
    out['StepSettings'] = StepSettings()
    return out


CONFIGS = configs()


def test_every_config_class_is_covered():
    import cti_nb, importlib, pkgutil
    for m in pkgutil.iter_modules(cti_nb.__path__):
        if m.name not in ('cli', '__main__'): importlib.import_module(f'cti_nb.{m.name}')
    subclasses = {c.__name__ for c in Config.__subclasses__()}
    assert subclasses == {type(c).__name__ for c in CONFIGS.values()}, subclasses


@pytest.mark.parametrize('name', list(CONFIGS))
def test_values_round_trip_through_set(name):
    cfg = CONFIGS[name]
    items = [f'{f.name}={getattr(cfg, f.name)!r}' for f in dataclasses.fields(cfg)]
    assert cfg.apply_overrides(items) == cfg


@pytest.mark.parametrize('name', list(PROFILES))
def test_profile_overrides_are_accepted(name):
    prof = PROFILES[name]
    for ds, variants in (('synth-voc', prof.voc_variants), ('synth-coco', prof.coco_variants)):
        for v in variants:   # each run's merged settings, variant-scoped ones included
            get_config(ds, variant=v).apply_overrides(run_sets(prof, ds, v)).check()
        get_config(ds).apply_overrides(['init='] + list(prof.pretrain_set))   # its pretraining runs are train runs
    seg_config('synth').apply_overrides(list(prof.seg_set))


@pytest.mark.parametrize('name', list(LEVERS))
def test_lever_overrides_are_accepted(name):
    lv = LEVERS[name]
    get_config(lv.dataset).apply_overrides(list(lv.train_set))
    get_config(lv.dataset).apply_overrides(['init='] + list(lv.pretrain_set))


@pytest.mark.parametrize('item, needle', [
    ("lr=abc", "--set lr='abc': expected a float (or None)"),
    ("epochs=2.5", '--set epochs=2.5: expected an int'),
    ("epochs=True", '--set epochs=True: expected an int'),
    ("progress=1", '--set progress=1: expected a bool (True or False)'),
    ("weights=0.1", '--set weights=0.1: expected a tuple (or None)'),
    ("scale=None", '--set scale=None: expected a tuple'),
    ("conv_stem=(1,)", '--set conv_stem=(1,): expected a bool (True or False) or a string'),
    ("init=None", '--set init=None: expected a string'),
])
def test_wrong_type_is_one_line(item, needle):
    with pytest.raises(CTIError) as e: get_config('synth-voc').apply_overrides([item])
    assert str(e.value) == needle


def test_lenient_cases_keep_their_meaning():
    cfg = get_config('synth-voc').apply_overrides(['lr=1', 'warmup_epochs=0', 'weights=[0.1, 1, 1]', 'init=2024',
                                                     'eval_thresholds=0.3', 'conv_stem=bn', 'tokenizer=None'])
    assert (cfg.lr, cfg.warmup_epochs, cfg.weights, cfg.init, cfg.eval_thresholds, cfg.conv_stem, cfg.tokenizer) == \
        (1, 0, [0.1, 1, 1], '2024', '0.3', 'bn', None)
    assert type(cfg.lr) is int                      # as before: an int for a float field is kept as given
    assert get_config('synth-voc').apply_overrides(['init=']).init == ''
