"""Train StereoAdapter on CPU at small scale: (a) synthetic supervised pretraining, (b) self-supervised adaptation.

  python -m groundfm_training.depth.train --stage pretrain --out runs/depth_pretrain --steps 3000
  python -m groundfm_training.depth.train --stage pretrain --device cuda --workers 12 ...   # on a GPU machine
  python -m groundfm_training.depth.train --stage adapt --init runs/depth_pretrain/model.safetensors \
      --unlabelled runs/shifted.npz --out runs/depth_adapt --steps 300

Stage a: FlyingThings-style procedural scenes + sim houses (seeds >= 1000, rendered once into --sim-cache), sequence
loss over the GRU iterations + mono loss + confidence BCE; every weight trains (no foundation weights exist here).
Stage b (the paper's stereo stage): unlabelled pairs, encoder base weights frozen, a fresh dynamic-rank LoRA (and the
refinement) trained with 0.85 SSIM + 0.15 L1 photometric + edge-aware smoothness + mono-prior guidance; gates get
L1 (lambda) and, after each optimiser step of learning rate lr, a proximal soft-threshold by kappa * lr whose kappa
ramps to LoRAConfig.kappa after a dense phase (ISTA: the threshold scales with the step size); the active ranks are
merged into the weights at the end. Metrics go to OUT/metrics.jsonl; checkpoints are written atomically.
"""

import argparse
import dataclasses
import itertools
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from groundfm.depth.checkpoint import (
    load_checkpoint,
    load_state_dict_strict,
    read_metadata,
    read_tensors,
    save_checkpoint,
)
from groundfm.depth.config import REFINE_STARTS, EncoderConfig, StereoAdapterConfig
from groundfm.depth.estimator import model_device
from groundfm.depth.lora import lora_parameters
from groundfm.depth.model import StereoAdapter
from groundfm_training.depth.data import (
    FlyingConfig,
    FlyingScenes,
    SimPairsConfig,
    augment,
    build_sim_cache,
    random_crop,
)
from groundfm_training.depth.losses import correlation_loss, self_supervised_loss, sequence_loss

NEW_MODULE_PREFIXES = ('update.motion.zncc.',)  # modules a checkpoint may lack; they start at zero


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of both stages."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--stage', choices=('pretrain', 'adapt'), required=True)
    p.add_argument('--out', required=True, help='run folder: metrics.jsonl, model.safetensors, checkpoints')
    p.add_argument('--init', default='', help='start from this checkpoint (required for adapt)')
    p.add_argument('--steps', type=int, default=3000)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--crop', type=int, nargs=2, default=(160, 256), metavar=('H', 'W'))
    p.add_argument('--lr', type=float, default=4e-4)
    p.add_argument('--iters', type=int, default=8, help='GRU iterations while training')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu', help='cpu, cuda, cuda:N, or auto (cuda when one is available)')
    p.add_argument('--workers', type=int, default=0,
                   help='pretrain: processes that build batches in the background (0: the training process itself)')
    p.add_argument('--max-disparity', type=int, default=192)
    p.add_argument('--sim-cache', default='', help='.npz of sim house pairs (built here if missing)')
    p.add_argument('--sim-houses', type=int, default=40, help='houses rendered into a new sim cache')
    p.add_argument('--sim-cache-seed', type=int, default=12,
                   help='seed of the views rendered into a new sim cache (12 built the cache runs 7-8 trained on)')
    p.add_argument('--corr-weight', type=float, default=1.0, help='weight of the correlation cross-entropy')
    p.add_argument('--sim-fraction', type=float, default=0.3, help='share of pretraining samples from the sim')
    p.add_argument('--flying-max-disp', type=float, default=96.0,
                   help='largest disparity of the procedural scenes [px] (nearest layer; each scene draws 30-100 %%)')
    p.add_argument('--unlabelled', default='', help='adapt: .npz with left/right uint8 (labels are ignored)')
    p.add_argument('--adapt-params', choices=('lora', 'lora+refine'), default='lora+refine')
    p.add_argument('--dense-fraction', type=float, default=0.3, help='adapt: steps before kappa starts to ramp')
    p.add_argument('--time-budget-min', type=float, default=0.0, help='stop (and save) after this many minutes')
    p.add_argument('--save-every', type=int, default=250)
    p.add_argument('--log-every', type=int, default=10)
    p.add_argument('--zncc-window', type=int, default=None,
                   help="pretrain: the fixed ZNCC cost's window side [px] (0: none). With --init: omitted keeps the "
                        "checkpoint's; from a checkpoint without it, its conv starts at zero, so training starts from "
                        'what --init computes; a checkpoint with it cannot drop or change it')
    p.add_argument('--refine-from', choices=REFINE_STARTS, default=None,
                   help="pretrain: where refinement starts (mono: the mono head; matching: the best match over the "
                        "correlation volumes). With --init: omitted keeps the checkpoint's (no tensor changes)")
    p.add_argument('--new-lr-scale', type=float, default=10.0,
                   help='pretrain with --init: learning rate factor of modules the checkpoint lacks (start at zero)')
    p.add_argument('--embed-dim', type=int, default=EncoderConfig().embed_dim)
    p.add_argument('--depth', type=int, default=EncoderConfig().depth)
    return p.parse_args(argv)


class MetricLog:
    """Append-only JSONL metrics file (one object per logged step)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, 'a', buffering=1)

    def write(self, **record: float | int | str) -> None:
        """Log one record with a wall-clock stamp."""
        self._f.write(json.dumps({'time': round(time.time(), 3), **record}) + '\n')


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """list of (h, w, 3) uint8 -> (b, 3, h, w) float in [0, 255]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()


def resolve_device(name: str) -> torch.device:
    """The training device (`model_device`'s rules); a bad or missing one ends the run with its message."""
    try:
        return model_device(name)
    except ValueError as err:
        raise SystemExit(f'error: --device: {err}') from err


def ensure_sim_cache(args: argparse.Namespace) -> None:
    """Render the training sim houses into args.sim_cache once, if they are used and the file is missing."""
    if args.sim_cache and args.sim_fraction > 0 and not Path(args.sim_cache).exists():
        seeds = [1000 + 7 * i for i in range(args.sim_houses)]
        print(f'rendering {args.sim_houses} sim houses into {args.sim_cache} ...', flush=True)
        build_sim_cache(args.sim_cache, seeds, SimPairsConfig(), seed=args.sim_cache_seed)


class PretrainData:
    """Batches mixing procedural scenes and sim-house crops, with augmentation; seeded."""

    def __init__(self, args: argparse.Namespace, rng: np.random.Generator) -> None:
        self.rng, self.args = rng, args
        h, w = args.crop
        self.flying = FlyingScenes(FlyingConfig(height=h, width=w,
                                                max_disparity=min(args.flying_max_disp, args.max_disparity)))
        self.sim = None
        if args.sim_cache and args.sim_fraction > 0:
            ensure_sim_cache(args)
            with np.load(args.sim_cache) as z:
                self.sim = {k: z[k] for k in ('left', 'right', 'disparity')}

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """left, right (b, 3, h, w) [0, 255] and disparity (b, 1, h, w) [px, NaN unknown]."""
        h, w = self.args.crop
        lefts, rights, disps = [], [], []
        for _ in range(self.args.batch):
            if self.sim is not None and self.rng.random() < self.args.sim_fraction:
                i = int(self.rng.integers(len(self.sim['left'])))
                left, right, disp = random_crop(self.rng, self.sim['left'][i], self.sim['right'][i],
                                                self.sim['disparity'][i].astype(np.float32), h, w)
            else:
                left, right, disp = self.flying.sample(self.rng)
            if self.rng.random() < 0.3:  # vertical flips keep rectification and the disparity sign
                left, right, disp = left[::-1], right[::-1], disp[::-1]
            left, right = augment(self.rng, left, right)
            lefts.append(np.ascontiguousarray(left))
            rights.append(np.ascontiguousarray(right))
            disps.append(np.ascontiguousarray(disp))
        return _to_tensor(lefts), _to_tensor(rights), torch.from_numpy(np.stack(disps)).unsqueeze(1)


class PretrainStream(torch.utils.data.IterableDataset):
    """Endless PretrainData batches for a DataLoader: worker k draws from its own stream, seeded (seed, k)."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        data = PretrainData(self.args, np.random.default_rng([self.args.seed, worker.id if worker else 0]))
        while True:
            yield data.batch()


def pretrain_batches(args: argparse.Namespace, rng: np.random.Generator, device: torch.device):
    """Endless (left, right, disparity) batches on `device`: built in this process from `rng` with --workers 0
    (the stream then depends only on --seed), else by --workers background processes."""
    if args.workers <= 0:
        data = PretrainData(args, rng)
        batches = iter(data.batch, None)
    else:
        ensure_sim_cache(args)  # once, here, not in every worker
        batches = iter(torch.utils.data.DataLoader(PretrainStream(args), batch_size=None, num_workers=args.workers,
                                                   pin_memory=device.type == 'cuda', prefetch_factor=4))
    for batch in batches:
        yield tuple(t.to(device, non_blocking=True) for t in batch)


def pretrain(args: argparse.Namespace, log: MetricLog, device: torch.device) -> StereoAdapter:
    """Stage a: supervised on synthetic pairs with exact disparity."""
    rng = np.random.default_rng(args.seed)
    if args.init:
        cfg, _ = read_metadata(args.init)
        if args.zncc_window is not None and cfg.zncc_window and args.zncc_window != cfg.zncc_window:
            raise SystemExit(f'error: --zncc-window {args.zncc_window}: {args.init} was trained with window '
                             f'{cfg.zncc_window}; its ZNCC conv would read other descriptors')
        if args.zncc_window is not None:
            cfg = dataclasses.replace(cfg, zncc_window=args.zncc_window)
        if args.refine_from is not None:
            cfg = dataclasses.replace(cfg, refine_from=args.refine_from)
        model, new = load_with_new_modules(args.init, cfg, device)
    else:
        cfg = StereoAdapterConfig(max_disparity=args.max_disparity, zncc_window=args.zncc_window or 0,
                                  refine_from=args.refine_from or 'mono',
                                  encoder=EncoderConfig(embed_dim=args.embed_dim, depth=args.depth,
                                                        out_indices=(args.depth // 2 - 1, args.depth - 1)))
        model, new = StereoAdapter(cfg).to(device), set()
    model.train()
    lora = set(map(id, lora_parameters(model)))
    params = [(name, p) for name, p in model.named_parameters() if id(p) not in lora]  # adapters: Delta W = 0
    for p in lora_parameters(model):
        p.requires_grad_(False)
    groups = [{'params': [p for name, p in params if name not in new]},
              {'params': [p for name, p in params if name in new], 'lr': args.lr * args.new_lr_scale}]
    batches = pretrain_batches(args, rng, device)
    first = next(batches)  # before the schedule: rendering a sim cache must not eat the time budget
    batches = itertools.chain([first], batches)
    opt = torch.optim.AdamW([g for g in groups if g['params']], lr=args.lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(args))
    _loop(args, log, model, opt, sched, lambda: _pretrain_step(args, model, next(batches)))
    return model


def load_with_new_modules(path: str | os.PathLike, cfg: StereoAdapterConfig,
                          device: torch.device) -> tuple[StereoAdapter, set[str]]:
    """A model of cfg from a checkpoint of a config without some modules (the ZNCC conv when zncc_window is switched
    on): those start at zero, so the model computes exactly what the stored one did. Returns it and the new tensors'
    names; any other tensor difference is a ValueError naming it (settings that change no tensor, such as the ZNCC
    window, are the caller's to check).
    """
    model = StereoAdapter(cfg)
    expected = model.state_dict()
    tensors = read_tensors(path)
    new = {name for name in expected if name not in tensors and name.startswith(NEW_MODULE_PREFIXES)}
    tensors.update({name: torch.zeros_like(expected[name]) for name in new})
    load_state_dict_strict(model, tensors, str(path))
    return model.to(device), new


def _schedule(args: argparse.Namespace):
    """LR factor: 3 % linear warm-up, then linear decay to 0 over the steps or, with a time budget, over the time."""
    start = time.monotonic()

    def factor(step: int) -> float:
        progress = step / max(1, args.steps)
        if args.time_budget_min:
            progress = max(progress, (time.monotonic() - start) / (60 * args.time_budget_min))
        return min(1.0, progress / 0.03) * max(0.0, 1.0 - progress) if progress < 0.03 else max(0.0, 1.0 - progress)

    return factor


def _pretrain_step(args: argparse.Namespace, model: StereoAdapter,
                   batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
    left, right, gt = batch
    out = model(left, right, iterations=args.iters, return_sequence=True)
    valid = torch.isfinite(gt) & (gt >= 0) & (gt < args.max_disparity)
    loss = sequence_loss(out['sequence'], gt, valid)
    final = out['sequence'][-1]
    err = (final - torch.nan_to_num(gt)).abs().detach()
    conf_target = (err < 2.0).float()
    conf_loss = torch.nn.functional.binary_cross_entropy(out['confidence'].clamp(1e-4, 1 - 1e-4), conf_target,
                                                         weight=valid.float())
    corr_loss = correlation_loss(out['correlation'], torch.nan_to_num(gt), valid)
    loss = loss + 0.1 * conf_loss + args.corr_weight * corr_loss
    v = valid.float().sum().clamp_min(1)
    mono_err = (out['sequence'][0].detach() - torch.nan_to_num(gt)).abs()
    stats = {'epe': float((err * valid).sum() / v), 'bad2': float(((err > 2) & valid).float().sum() / v),
             'mono_epe': float((mono_err * valid).sum() / v), 'corr_nll': float(corr_loss.detach())}
    return loss, stats


def adapt(args: argparse.Namespace, log: MetricLog, device: torch.device) -> StereoAdapter:
    """Stage b: self-supervised on unlabelled pairs through fresh LoRA adapters (+ the refinement)."""
    if not args.init or not args.unlabelled:
        raise SystemExit('error: --stage adapt needs --init CHECKPOINT and --unlabelled PAIRS.npz')
    if args.iters < 1:
        raise SystemExit('error: --stage adapt needs --iters >= 1 (its loss is on the refined estimates)')
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    model = load_checkpoint(args.init, device=str(device)).train()
    teacher = load_checkpoint(args.init, device=str(device)).eval()  # the frozen mono prior of the pretrained model
    for layer in model.lora_layers():
        layer.reset_adapter()
    for p in model.parameters():
        p.requires_grad_(False)
    params = lora_parameters(model)
    if args.adapt_params == 'lora+refine':
        params += [p for m in (model.update, model.match, model.context) for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    with np.load(args.unlabelled) as z:
        pairs = (z['left'], z['right'])
    lam, kappa_max = model.cfg.lora.l1_weight, model.cfg.lora.kappa
    dense = int(args.dense_fraction * args.steps)

    def step() -> tuple[torch.Tensor, dict]:
        h, w = args.crop
        lefts, rights = [], []
        for _ in range(args.batch):
            i = int(rng.integers(len(pairs[0])))
            left, right, _ = random_crop(rng, pairs[0][i], pairs[1][i], pairs[0][i][..., 0], h, w)
            lefts.append(np.ascontiguousarray(left))
            rights.append(np.ascontiguousarray(right))
        left, right = _to_tensor(lefts).to(device), _to_tensor(rights).to(device)
        out = model(left, right, iterations=args.iters, return_sequence=True)
        with torch.no_grad():
            prior = teacher(left, right, iterations=0)['mono']
        loss, stats = self_supervised_loss(left, right, out['sequence'], prior)
        gates = sum(layer.l1_penalty() for layer in model.lora_layers())
        return loss + lam * gates, stats

    def after_step(step_index: int, lr: float) -> dict:
        kappa = kappa_schedule(step_index, args.steps, dense, kappa_max)
        active = proximal_update(model, kappa, lr)
        return {'kappa': kappa, 'active_ranks': active}

    _loop(args, log, model, opt, sched, step, after_step)
    merged = model.merge_lora()
    print(f'merged {merged} active LoRA ranks into the encoder weights', flush=True)
    return model


def kappa_schedule(step: int, steps: int, dense: int, kappa_max: float) -> float:
    """Proximal L1 strength: 0 for the first `dense` steps, then a linear ramp to kappa_max over half the rest."""
    return kappa_max * min(1.0, max(0.0, (step - dense) / max(1, (steps - dense) // 2)))


def proximal_update(model: StereoAdapter, kappa: float, lr: float) -> int:
    """ISTA step on every LoRA gate after an optimiser step of learning rate lr (threshold kappa * lr); returns the
    ranks still active over all layers."""
    return sum(layer.proximal_step(kappa, lr) for layer in model.lora_layers())


def _loop(args, log, model, opt, sched, step_fn, after_step=None) -> None:
    """Optimise for args.steps (or the time budget) with grad clipping, logging and atomic checkpoints."""
    out = Path(args.out)
    start = time.monotonic()
    bar = tqdm(range(args.steps), desc=f'depth {args.stage}', dynamic_ncols=True, mininterval=5.0)
    running: dict[str, float] = {}
    for step_index in bar:
        t0 = time.monotonic()
        loss, stats = step_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g['params']], 1.0)
        lr = opt.param_groups[0]['lr']  # the step size of this update (the proximal threshold scales with it)
        opt.step()
        sched.step()
        extra = after_step(step_index, lr) if after_step else {}
        stats = {'loss': float(loss.detach()), **stats}
        for k, v in stats.items():
            running[k] = 0.9 * running.get(k, v) + 0.1 * v if math.isfinite(v) else running.get(k, 0.0)
        if step_index % args.log_every == 0 or step_index == args.steps - 1:
            log.write(step=step_index, lr=sched.get_last_lr()[0], s_per_step=round(time.monotonic() - t0, 3),
                      **{k: round(v, 5) for k, v in stats.items()}, **extra)
            bar.set_postfix({k: f'{v:.3g}' for k, v in running.items()})
        if (step_index + 1) % args.save_every == 0:
            save_checkpoint(out / 'last.safetensors', model, {'step': step_index + 1, 'stage': args.stage})
        if args.time_budget_min and time.monotonic() - start > 60 * args.time_budget_min:
            print(f'time budget reached at step {step_index + 1}', flush=True)
            break
    bar.close()


def main(argv: list[str] | None = None) -> int:
    """Run one stage and write OUT/model.safetensors."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'args.json').write_text(json.dumps(vars(args), indent=2))
    log = MetricLog(out / 'metrics.jsonl')
    start = time.monotonic()
    model = (pretrain if args.stage == 'pretrain' else adapt)(args, log, device)
    minutes = (time.monotonic() - start) / 60
    path = save_checkpoint(out / 'model.safetensors', model.eval(),
                           {'stage': args.stage, 'steps': args.steps, 'wall_min': round(minutes, 1),
                            'command': 'python -m groundfm_training.depth.train ' + ' '.join(
                                os.sys.argv[1:] if argv is None else argv)})
    print(f'wrote {path} after {minutes:.1f} min', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
