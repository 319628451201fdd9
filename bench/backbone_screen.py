"""Backbone screen: which pretraining recipe gives patch attention that groups like with like?

Each candidate is today's synth-in recipe (`cti-nb pretrain`, 05b_pretrain) with one change, pretrained from scratch
for the same fixed budget (`--steps` optimiser steps of the `--epochs` cosine schedule, seed 0, fresh online images),
then carded as fine-tuning would start: mapped into MCTformer-V2 with `init_from_deit` and read on 64 synth-voc val
images (`cti_nb.regime.backbone_card`: affinity label agreement per block, over blocks 4-11 and over all 12; chance
= 1; the shipping gates are foreground >= 2 and background >= 1). The shipped `synth-in` backbone (14,800 steps) is
carded beside them. Also recorded: the val top-1 on synth-in at the budget.

    .venv/bin/python bench/backbone_screen.py [--steps 600] [--epochs 30] \\
        [--candidate today= heads4=num_heads=4 token-label=token_label=0.5 mimetic=mimetic_init=True ...] \\
        [--card-at 400 800 ...]

A candidate's sets may warm-start it (`init=synth-in`: the shipped weights and head, a fresh optimiser and schedule);
`--epochs` is then the horizon of the continued schedule.

Runs go to runs/screens/backbone/<candidate> and resume; the results to bench/results/backbone_screen.json.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save_record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ('today=', 'heads4=num_heads=4')


def main(argv=None) -> int:
    from cti_nb.core import env_info, load_torch, save_torch
    from cti_nb.pretrain import evaluate_top1
    from cti_nb.profiles import get_profile
    from cti_nb.regime import backbone_card
    from cti_nb.reproduce import stage_data
    from cti_nb.runs import read_log, train_seconds
    from cti_nb.pretrain import _classifier_from   # the classifier of a pretraining model.pth (its run's model.json)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--candidate', nargs='*', default=list(DEFAULT), metavar='NAME=KEY=VALUE,...')
    p.add_argument('--steps', type=int, default=600)
    p.add_argument('--card-at', type=int, nargs='*', default=[], metavar='STEP',
                   help='also card every candidate at these earlier steps (the run stops there, is carded, resumes)')
    p.add_argument('--epochs', type=int, default=30, help="the cosine schedule's horizon (the shipped recipe's 30)")
    p.add_argument('--synth-in', default=str(ROOT / 'runs' / 'backbone' / 'synth-in'))
    p.add_argument('--synth-in-seed1', default=str(ROOT / 'runs' / 'backbone' / 'synth-in-seed1'),
                   help="the second val set of the top-1 gate (make backbone's)")
    p.add_argument('--data-work', default=str(ROOT / 'runs' / 'reproduce'), help="the full profile's work folder")
    p.add_argument('--work', default=str(ROOT / 'runs' / 'screens' / 'backbone'))
    p.add_argument('--out', default=str(ROOT / 'bench' / 'results' / 'backbone_screen.json'))
    a = p.parse_args(argv)
    cli = str(Path(sys.executable).parent / 'cti-nb')
    if not (Path(a.synth_in) / 'ImageSets' / 'val.txt').is_file():
        subprocess.run([cli, 'synth', '--kind', 'synth-in', '--out', a.synth_in, '--seed', '0', '--n-train', '128',
                        '--n-val', '2000', '--no-progress'], check=True)
    if not (Path(a.synth_in_seed1) / 'ImageSets' / 'val.txt').is_file():
        subprocess.run([cli, 'synth', '--kind', 'synth-in', '--out', a.synth_in_seed1, '--seed', '1', '--n-train', '64',
                        '--n-val', '2000', '--no-progress'], check=True)
    voc = Path(stage_data(get_profile('full').override(coco_variants=()), Path(a.data_work) / 'full', False)['synth-voc'])
    rows, t0 = {}, time.perf_counter()
    summarise = lambda c: {'blocks 4-11': c['blocks 4-11'], 'all blocks': c['all blocks'], 'position': c['position'],
                           'per_block': c['per_block'], 'gates_passed': all(g['passed'] for g in c['gates'].values())}
    rows['shipped synth-in (14,800 steps)'] = {'sets': None, **summarise(backbone_card('synth-in', voc))}
    for cand in a.candidate:
        name, _, rest = cand.partition('=')
        sets = [kv for kv in rest.split(',') if kv]
        run = Path(a.work) / name
        cmd = [cli, 'pretrain', '--data-root', a.synth_in, '--out', str(run), '--epochs', str(a.epochs),
               '--no-progress', '--set', f'stop_after_steps={a.steps}'] + [x for kv in sets for x in ('--set', kv)]
        t, trend = time.perf_counter(), {}
        for budget in sorted({b for b in a.card_at if 0 < b < a.steps} | {a.steps}):
            ck = run / f'model_at_{budget}.pth'        # the weights at the budget, as a plain state dict
            last = run / 'checkpoints' / 'last.pth'
            if not ck.is_file() and budget < a.steps and last.is_file() and \
                    load_torch(last)['position']['global_step'] > budget:
                print(f'{name}: already past step {budget} and its weights there were not kept; not carded at {budget}')
                continue
            if not ck.is_file():
                run_cmd = [x if x != f'stop_after_steps={a.steps}' else f'stop_after_steps={budget}' for x in cmd]
                if last.is_file(): run_cmd.append('--resume')
                print('$', ' '.join(run_cmd), flush=True)
                subprocess.run(run_cmd, check=True)
                state = load_torch(last)
                if state['position']['global_step'] != budget:
                    raise SystemExit(f"{run}: at step {state['position']['global_step']}, not {budget}")
                save_torch(state['model'], ck)
            if budget < a.steps:
                c = backbone_card(str(ck), voc)
                trend[budget] = {'blocks 4-11': c['blocks 4-11'], 'all blocks': c['all blocks'], 'position': c['position'],
                                 'val_top1': evaluate_top1(_classifier_from(str(ck)), a.synth_in)}
                r = trend[budget]
                print(f"{name} at {budget}: top-1 {r['val_top1']:.3f}; fg/bg 4-11 {r['blocks 4-11']['foreground']:.2f}/"
                      f"{r['blocks 4-11']['background']:.2f}, all {r['all blocks']['foreground']:.2f}/"
                      f"{r['all blocks']['background']:.2f}", flush=True)
        steps = read_log(run)[0]
        top1 = evaluate_top1(_classifier_from(str(ck)), a.synth_in)
        rows[name] = {'sets': sets, 'steps': a.steps, 'last_loss_mean10': sum(s['loss'] for s in steps[-10:]) / 10,
                      'val_top1': top1, 'val_top1_seed1': evaluate_top1(_classifier_from(str(ck)), a.synth_in_seed1),
                      'train_seconds': round(train_seconds(run), 1), 'seconds': round(time.perf_counter() - t, 1),
                      **summarise(backbone_card(str(ck), voc)), **({'trend': trend} if trend else {})}
        gates = [v.sigmoid() for k, v in load_torch(ck).items() if k.endswith('.attn.local.gating')]
        if gates:   # the locality prior's learned weight sigma(lambda), over its blocks and heads
            rows[name]['prior_weight'] = {'min': float(min(g.min() for g in gates)), 'max': float(max(g.max() for g in gates))}
        r = rows[name]
        print(f"{name}: top-1 {top1:.3f}; agreement fg/bg blocks 4-11 {r['blocks 4-11']['foreground']:.2f}/"
              f"{r['blocks 4-11']['background']:.2f}, all {r['all blocks']['foreground']:.2f}/"
              f"{r['all blocks']['background']:.2f}", flush=True)
    print('| candidate | top-1 | top-1 seed1 | fg 4-11 | bg 4-11 | fg all | bg all | gates | position fg / bg 4-11 |\n'
          '|---|---|---|---|---|---|---|---|---|')
    f = lambda v: '—' if v is None else f'{v:.2f}'
    for name, r in rows.items():
        pos = r['position']['blocks 4-11']   # the mean affinity over the images: what position alone explains
        print(f"| {name} | {f(r.get('val_top1'))} | {f(r.get('val_top1_seed1'))} | {f(r['blocks 4-11']['foreground'])} | "
              f"{f(r['blocks 4-11']['background'])} | {f(r['all blocks']['foreground'])} | "
              f"{f(r['all blocks']['background'])} | {'pass' if r['gates_passed'] else 'fail'} | "
              f"{f(pos['foreground'])} / {f(pos['background'])} |")
    save_record({'what': __doc__.splitlines()[0], 'command': ' '.join(['python', 'bench/backbone_screen.py'] +
                                                                      (argv or sys.argv[1:])),
               'budget_steps': a.steps, 'card_at': a.card_at, 'epochs': a.epochs, 'synth_voc_val': str(voc), 'candidates': rows,
               'wall_clock_s': round(time.perf_counter() - t0, 1), 'environment': env_info(),
               'note': 'synthetic benchmark (synth-in / synth-voc); a short-budget screen, not a shipped backbone'},
                a.out)
    print(f'wrote {a.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
