"""The GPU check: one run of at most 8 minutes on one GPU, printing as it goes, writing bench/results/gpu.json after
every section (so a run cut short keeps what it measured). Start it through `bash bench/device_check.sh`, which
installs the wheels of `.whl/` first (see bench/README.md). Sections:

1. `golden`: the model and the four losses against the golden data of tests/data/golden on the device in float32
   (TF32 off), tolerance 1e-4 relative to each reference's largest magnitude; one optimised step in bf16 has finite
   losses and gradients.
2. `train_step`: the CTI step at DeiT-S 224 px, batch 64, 20 classes, AdamW included: images/s of the four-pass and
   the optimised step, float32 (torch defaults) and bf16, and peak GPU memory.
3. `cams`: seed CAMs with flip at 500x375, DeiT-S: images/s batched in float32 and bf16 (and the official
   one-at-a-time recipe for reference).
4. `ddp`: a one-process `torchrun` start-up with NCCL (gloo on CPU) and a few DDP steps of the CTI step.
5. `reproduce`: `cti-nb reproduce --profile quick --device cuda` in the time left, wall-clock per stage.

`--dry-run` runs every section on the CPU with tiny sizes (and the `smoke` profile without its figure notebooks), so
CI checks the script without a GPU (tests/test_device_check.py); its JSON goes to bench/results/gpu_dry_run.json
unless --out says otherwise.

    bash bench/device_check.sh [--dry-run] [--budget 450] [--out FILE]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from _common import RESULTS, machine  # noqa: E402

T_START = time.perf_counter()           # the budget counts from the start of the process
GOLD = ROOT / 'tests' / 'data' / 'golden'
TOL = 1e-4
# tiny stand-ins of DeiT-S for --dry-run
TINY_NET = dict(img_size=32, patch_size=8, embed_dim=32, depth=6, num_heads=2, mlp_ratio=2.0)  # s=3, 6 layers


class Report:
    "The JSON of the run, saved after every section; each section records ok / error / seconds."

    def __init__(self, path: Path, dry: bool, budget: float):
        self.path, self.t0, self.budget = path, T_START, budget
        self.data = {'benchmark': 'device_check', 'dry_run': dry, 'budget_s': budget, 'command': ' '.join(sys.argv),
                     'sections': {}}

    def elapsed(self) -> float: return time.perf_counter() - self.t0

    def left(self) -> float: return self.budget - self.elapsed()

    def save(self):
        from cti_nb.core import save_json
        self.data['elapsed_s'] = round(self.elapsed(), 2)
        save_json(self.data, self.path)

    @contextlib.contextmanager
    def section(self, name: str):
        print(f'\n== {name} (at {self.elapsed():.0f} s of {self.budget:.0f} s)', flush=True)
        rec = {'ok': False}
        self.data['sections'][name] = rec
        t = time.perf_counter()
        try:
            yield rec
            rec['ok'] = rec.get('ok_checks', True)
        except Exception as e:                       # a failing section is recorded; the next one still runs
            rec['error'] = f'{type(e).__name__}: {e}'
            rec['traceback'] = traceback.format_exc()[-3000:]
            print(rec['traceback'], flush=True)
        finally:
            rec.pop('ok_checks', None)
            rec['seconds'] = round(time.perf_counter() - t, 2)
            print(f'-- {name}: {"ok" if rec["ok"] else "FAILED"} in {rec["seconds"]:.1f} s', flush=True)
            self.save()


def environment(dev) -> dict:
    import torch
    info = machine()
    info.update(device=str(dev), device_name=torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu',
                torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version() if dev.type == 'cuda' else None,
                gpu_memory_gib=round(torch.cuda.get_device_properties(dev).total_memory / 2**30, 1)
                if dev.type == 'cuda' else None, cpu_capability=torch.backends.cpu.get_cpu_capability(),
                nccl=('.'.join(map(str, torch.cuda.nccl.version())) if dev.type == 'cuda' else None))
    return info


def run_group(cmd: list, timeout: float) -> tuple[int, str]:
    "(exit code, output) of `cmd` in its own process group; past `timeout` the whole group is killed (TimeoutError)."
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
        return proc.returncode, log
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)                              # torchrun's worker, reproduce's training processes
        log, _ = proc.communicate()
        raise TimeoutError(f'{" ".join(map(str, cmd[:4]))} ... did not finish in {timeout:.0f} s: '
                           f'{log[-1500:]}') from None


def _sync(dev):
    import torch
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


# --- 1. golden ----------------------------------------------------------------------------------------------------
def golden_state_dict(meta: dict) -> dict:
    "The golden weights (tests/data/golden/README): randn * 0.05 (+1 for norm weights), sorted keys, one generator."
    import torch
    g = torch.Generator().manual_seed(meta['weights_seed'])
    sd = {}
    for key in sorted(meta['state_dict_keys']):
        t = torch.randn(meta['state_dict_keys'][key], generator=g, dtype=torch.float32) * 0.05
        sd[key] = t + 1.0 if 'norm' in key and key.endswith('weight') else t
    return sd


def golden_checks(dev, rec: dict) -> None:
    "Forward outputs, seed CAMs and the four losses of the golden network on `dev` in float32 vs the golden data."
    import numpy as np
    import torch
    import torch.nn.functional as F
    from cti_nb.cam import seed_cams
    from cti_nb.losses import (ClassTokenMemory, background_cam_loss, classification_loss, cross_infusion_loss,
                               intra_infusion_loss)
    from cti_nb.checkpoints import load_official
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    meta = json.loads((GOLD / 'official_small.json').read_text())
    z = np.load(GOLD / 'official_small.npz')
    T = lambda k: torch.from_numpy(z[k]).to(dev)
    errs = {}

    def check(name, got, ref):
        ref = torch.as_tensor(ref, dtype=torch.float64, device=dev)
        errs[name] = float((got.detach().double() - ref).abs().max() / max(1.0, float(ref.abs().max())))

    try:
        net = load_official(golden_state_dict(meta)).to(dev)
        x, xp, xr, y = T('input_x'), T('input_x_pos'), T('input_x_rect'), T('label')
        with torch.no_grad():
            for inp, tag in ((x, 'eval'), (xr, 'rect')):
                o = net(inp)
                for ours, k in [('class_logits', 'cls'), ('patch_logits', 'pcls'), ('cams', 'cams'),
                                ('fused_cams', 'fcams'), ('token_attention', 'mtatt'), ('refined_cams', 'rcams'),
                                ('patch_affinity', 'attn')]:
                    if f'{tag}_{k}' in z.files: check(f'{tag}_{k}', getattr(o, ours), z[f'{tag}_{k}'])
            check('eval_infer_rcams', net.cam(x), z['eval_infer_rcams'])
            check('eval_infer_rcams_last2', net.cam(x, n_layers=2), z['eval_infer_rcams_last2'])
        check('infer_cam_flip_maxnorm', seed_cams(net, x, y), z['infer_cam_flip_maxnorm'])
        sw = meta['swap_idx']
        net.train()
        o, p = net(x, infuse_after=sw), net(xp, infuse_after=sw)
        check('train_cls', o.class_logits, z['train_cls'])
        losses = {'loss_cls': classification_loss([o.class_logits, o.patch_logits, p.class_logits, p.patch_logits], y),
                  'loss_bg': background_cam_loss(o.cams, o.token_attention, o.patch_affinity, y)}
        mem = ClassTokenMemory(3, 384)
        mem.load_state_dict({'num_classes': 3, 'dim': 384, 'size': 30, 'eps': 1e-5, 'lists': [
            F.layer_norm(torch.from_numpy(z['cross_memory_in'][c]), (384,), eps=1e-5) for c in range(3)]})
        Xs = o.class_tokens[sw][:, 1:]
        mem.append(Xs, y)
        cross = net(x, infuse_tokens=mem.infusion_tokens(Xs, y), infuse_after=sw)
        losses['loss_cross'] = cross_infusion_loss(o.cams, cross.fused_cams_after)
        intra = net(x, infuse_tokens=p.class_tokens[sw], infuse_after=sw)
        losses['loss_intra'] = intra_infusion_loss(o.cams, intra.cams)
        for k, v in losses.items(): check(k, v, meta['losses'][k])
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    rec['max_rel_error'] = errs
    rec['tolerance'] = TOL
    bad = {k: v for k, v in errs.items() if not v <= TOL}
    rec['golden_ok'] = not bad
    print(f'golden on {dev}: {len(errs)} quantities, largest relative error {max(errs.values()):.2e} '
          f'(tolerance {TOL:g})' + (f'; OVER: {bad}' if bad else ''), flush=True)
    if bad: rec['ok_checks'] = False


def bf16_step(dev, rec: dict, dry: bool) -> None:
    "One optimised CTI step with AdamW under bf16 autocast: finite losses and gradients."
    import torch
    from cti_nb.step import benchmark_step
    kw = dict(TINY_NET) if dry else dict(img_size=224)
    r = benchmark_step('optimised', batch_size=2 if dry else 8, n_steps=1, warmup=1, amp='bf16', optimizer=True,
                       device=str(dev), **kw)
    rec['bf16_step_losses'] = r['losses']
    finite = all(math.isfinite(v) for v in r['losses'])
    rec['bf16_step_finite'] = finite
    print(f'bf16 step losses {[round(v, 4) for v in r["losses"]]}: {"finite" if finite else "NOT FINITE"}', flush=True)
    if not finite: rec['ok_checks'] = False


# --- 2. training step ---------------------------------------------------------------------------------------------
def train_steps(dev, rec: dict, dry: bool) -> None:
    import torch
    from cti_nb.step import benchmark_step
    kw = dict(TINY_NET) if dry else dict(img_size=224)
    batch, steps, warmup = (2, 1, 1) if dry else (64, 5, 2)
    rec.update(batch_size=batch, num_classes=20, img_size=kw['img_size'], steps=steps, warmup=warmup,
               optimizer='adamw', tf32={'matmul': torch.backends.cuda.matmul.allow_tf32,
                                        'cudnn': torch.backends.cudnn.allow_tf32}, rows=[])
    for impl in ('four-pass', 'optimised'):
        for amp in ('off', 'bf16'):
            r = benchmark_step(impl, batch_size=batch, n_steps=steps, warmup=warmup, amp=amp, optimizer=True,
                               device=str(dev), **kw)
            row = {k: r[k] for k in ('impl', 'amp', 'median_s', 'images_per_s', 'peak_cuda_mb', 'times')}
            rec['rows'].append(row)
            print(f"{impl:10s} {amp:4s}: {r['images_per_s']:.1f} img/s ({r['median_s'] * 1e3:.1f} ms/step), peak "
                  f"{r['peak_cuda_mb'] or 0:.0f} MiB", flush=True)
            if dev.type == 'cuda': torch.cuda.empty_cache()


# --- 3. seed CAMs -------------------------------------------------------------------------------------------------
def cam_speed(dev, rec: dict, dry: bool) -> None:
    import torch
    from cti_nb.cam import official_seed_cams, seed_cams
    from cti_nb.model import CTIModel
    torch.manual_seed(0)
    if dry: net, (h, w), n, batch = CTIModel(num_classes=20, **TINY_NET), (48, 64), 4, 2
    else: net, (h, w), n, batch = CTIModel(num_classes=20), (375, 500), 64, 16
    net = net.to(dev).eval()
    x = torch.randn(n, 3, h, w, device=dev)
    y = torch.zeros(n, 20, device=dev); y[torch.arange(n), torch.arange(n) % 20] = 1
    rec.update(size=[w, h], images=n, batch=batch, rows=[])

    def timed(fn):
        fn(); _sync(dev)                                   # warm-up (cuDNN / kernels)
        t0 = time.perf_counter(); fn(); _sync(dev)
        return n / (time.perf_counter() - t0)

    runs = {'official one at a time, fp32': lambda: [official_seed_cams(net, x[i], y[i]) for i in range(n)]}
    for amp in ('off', 'bf16'):
        runs[f'seed_cams batch {batch}, {"fp32" if amp == "off" else amp}'] = (
            lambda amp=amp: [seed_cams(net, x[k:k + batch], y[k:k + batch], amp=amp) for k in range(0, n, batch)])
    for name, fn in runs.items():
        speed = timed(fn)
        rec['rows'].append({'path': name, 'img_s': speed})
        print(f'{name}: {speed:.1f} img/s', flush=True)


# --- 4. DDP -------------------------------------------------------------------------------------------------------
def ddp_worker(out: str, dry: bool) -> None:
    "Run under torchrun: init the process group, wrap the CTI step in DDP, a few steps; write timings to `out`."
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from cti_nb.core import save_json
    from cti_nb.model import CTIModel
    from cti_nb.step import CTIStep, backward_and_step, memory_for, variant_settings
    from cti_nb.trainloop import make_optimizer
    cuda = torch.cuda.is_available() and not dry
    backend = 'nccl' if cuda else 'gloo'
    t0 = time.perf_counter()
    dist.init_process_group(backend)
    rank = dist.get_rank()
    dev = torch.device('cuda', int(os.environ.get('LOCAL_RANK', 0))) if cuda else torch.device('cpu')
    if cuda: torch.cuda.set_device(dev)
    t = torch.ones(1, device=dev); dist.all_reduce(t); _sync(dev)
    init_s = time.perf_counter() - t0
    torch.manual_seed(0)
    kw = dict(TINY_NET) if dry else {}
    net = CTIModel(num_classes=20, drop_path=0.1, **kw).train().to(dev)
    s = variant_settings('cti')
    step = CTIStep(net, s, memory_for(net, s))
    ddp = DDP(step, device_ids=[dev.index] if cuda else None, find_unused_parameters=True)
    opt = make_optimizer(net, 1e-5)
    B, size = (2, kw['img_size']) if dry else (16, 224)
    x1, x2 = torch.randn(B, 3, size, size, device=dev), torch.randn(B, 3, size, size, device=dev)
    y = torch.zeros(B, 20, device=dev); y[torch.arange(B), torch.arange(B)] = 1
    times, losses = [], []
    for i in range(3 if dry else 6):
        _sync(dev); ts = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out_ = ddp(x1, x2, y, 0)
        backward_and_step(out_['loss'], opt)
        _sync(dev); times.append(time.perf_counter() - ts); losses.append(float(out_['loss'].detach()))
    if rank == 0:
        save_json({'backend': backend, 'world_size': dist.get_world_size(), 'init_and_first_all_reduce_s': init_s,
                   'step_s': times, 'losses': losses, 'batch_per_rank': B, 'img_size': size}, out)
    dist.destroy_process_group()


def ddp_check(rec: dict, dry: bool, timeout: float) -> None:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / 'ddp.json'
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '1',
               str(BENCH / 'device_check.py'), '--ddp-worker', str(out)] + (['--dry-run'] if dry else [])
        t0 = time.perf_counter()
        rc, log = run_group(cmd, timeout)
        rec['torchrun_wall_s'] = round(time.perf_counter() - t0, 2)
        if rc or not out.is_file(): raise RuntimeError(f'torchrun exited {rc}: {log[-2000:]}')
        rec.update(json.loads(out.read_text()))
    print(f"torchrun ({rec['backend']}): process start to first all-reduce {rec['init_and_first_all_reduce_s']:.2f} s, "
          f"whole torchrun {rec['torchrun_wall_s']:.1f} s; DDP steps {[round(t, 3) for t in rec['step_s']]} s, "
          f"losses {[round(v, 3) for v in rec['losses']]}", flush=True)
    if not all(math.isfinite(v) for v in rec['losses']): rec['ok_checks'] = False


# --- 5. reproduce -------------------------------------------------------------------------------------------------
def reproduce_profile(rec: dict, dry: bool, device: str, timeout: float) -> None:
    "`cti-nb reproduce` with `--device` in a subprocess, within `timeout`; the manifest's wall-clock per stage."
    profile = 'smoke' if dry else 'quick'
    with tempfile.TemporaryDirectory() as d:
        args = ['reproduce', '--profile', profile, '--device', device, '--out', f'{d}/figures', '--work', f'{d}/work']
        if dry: args += ['--figures', 'none']        # the dry run skips the figure notebooks (a name that matches none)
        cmd = [sys.executable, '-c', 'import sys; from cti_nb.cli import main; sys.exit(main(sys.argv[1:]))'] + args
        rec.update(profile=profile, command='cti-nb ' + ' '.join(args[:5]), timeout_s=round(timeout))
        print('$ cti-nb ' + ' '.join(args), flush=True)
        t0 = time.perf_counter()
        try: rc, log = run_group(cmd, max(1.0, timeout))
        finally: rec['wall_s'] = round(time.perf_counter() - t0, 1)
        rec['log_tail'] = log[-1500:]
        man = Path(d) / 'figures' / profile / 'manifest.json'
        if rc or not man.is_file(): raise RuntimeError(f'reproduce exited {rc}: {rec["log_tail"]}')
        m = json.loads(man.read_text())
        rec['wall_clock_s'] = m['wall_clock_s']
        rec['train_devices'] = sorted({c.get('device_used', '?') for by_v in m['train_configs'].values()
                                       for by_s in by_v.values() for c in by_s.values()})
    print(f"{profile} profile on {device}: " + ', '.join(f'{k} {v:.0f} s' for k, v in rec['wall_clock_s'].items()),
          flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--dry-run', action='store_true', help='CPU, tiny sizes (for CI)')
    p.add_argument('--budget', type=float, default=None,
                   help='seconds for the whole run (default 450: 8 min with the wheel install; a dry run: 1200)')
    p.add_argument('--out', default=None, help='JSON file (default bench/results/gpu.json, gpu_dry_run.json)')
    p.add_argument('--ddp-worker', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    if a.ddp_worker: return ddp_worker(a.ddp_worker, a.dry_run)
    import torch
    from cti_nb.core import CTIError, get_device
    try: dev = get_device('cpu' if a.dry_run else 'cuda')
    except CTIError as e:                                   # a real run without CUDA stops here, in one line
        print(f'device check: {e} (or pass --dry-run)', file=sys.stderr)
        return 2
    if a.dry_run: torch.set_num_threads(min(2, torch.get_num_threads()))
    out = Path(a.out) if a.out else RESULTS / ('gpu_dry_run.json' if a.dry_run else 'gpu.json')
    rep = Report(out, a.dry_run, a.budget or (1200.0 if a.dry_run else 450.0))
    rep.data['environment'] = environment(dev)
    print(f"device check on {rep.data['environment']['device_name']} (torch {torch.__version__}, CUDA "
          f"{torch.version.cuda}){' DRY RUN' if a.dry_run else ''}", flush=True)
    rep.save()
    with rep.section('golden') as rec:
        golden_checks(dev, rec)
        bf16_step(dev, rec, a.dry_run)
    with rep.section('train_step') as rec: train_steps(dev, rec, a.dry_run)
    with rep.section('cams') as rec: cam_speed(dev, rec, a.dry_run)
    with rep.section('ddp') as rec:            # a dry run on a loaded CPU can take minutes to start processes
        ddp_check(rec, a.dry_run, timeout=max(30.0, min(600.0 if a.dry_run else 120.0, rep.left())))
    with rep.section('reproduce') as rec: reproduce_profile(rec, a.dry_run, dev.type, timeout=rep.left() - 5)
    rep.data['all_ok'] = all(s['ok'] for s in rep.data['sections'].values())
    rep.save()
    print(f"\ndevice check: {'all sections ok' if rep.data['all_ok'] else 'SOME SECTIONS FAILED'} in "
          f"{rep.elapsed():.0f} s; wrote {out}", flush=True)
    return 0 if rep.data['all_ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
