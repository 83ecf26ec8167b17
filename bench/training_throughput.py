"""Training throughput: nnLandmarkTrainer vs nnU-Net's stock nnUNetTrainer on the same plans, patch and batches.

Every trainer runs ``train_step`` on the same pre-fetched batches (nnU-Net's own dataloader and augmentation,
prepared once, so data loading is not timed). Repetitions are interleaved (one step of each trainer per round,
the order rotating) and the median is reported, so a noisy machine slows all contenders alike.

Usage: python bench/training_throughput.py [--device auto|cpu|cuda] [--plan cpu|nnunet] [--reps N]
       [--warmup N] [--steps-per-sample N] [--patch-size Z Y X] [--losses ssce mse bce_topk]
CPU defaults: the demo's CPU plan (features 16..160, batch 2); CUDA defaults: nnU-Net's planned network.
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import time
from dataclasses import dataclass
from typing import Any

from common import say, summary, write_result
from prepare_dataset import CPU_OVERRIDES, prepare


@dataclass
class Contender:
    """One trainer configuration being timed."""

    name: str
    description: str
    trainer: Any
    deep_supervision: bool


def build_contenders(prepared: Any, plans: dict, device: Any, losses: list[str]) -> list[Contender]:
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from nnlandmark.training.losses import HeatmapLossConfig
    from nnlandmark.training.recipe import TrainingRecipe
    from nnlandmark.training.trainer import nnLandmarkTrainer

    dataset_json = prepared.dataset_json()

    def fresh_plans() -> dict:
        copied = copy.deepcopy(plans)
        copied["continue_training"] = False  # nnU-Net 2.8.1 pops this key
        return copied

    contenders = []
    for deep_supervision in (True, False):
        torch.manual_seed(0)
        trainer = nnUNetTrainer(fresh_plans(), prepared.configuration, 0, dataset_json, device)
        trainer.enable_deep_supervision = deep_supervision
        trainer.initialize()
        name = "stock_ds" if deep_supervision else "stock_no_ds"
        what = "nnUNetTrainer as shipped: DC_and_CE, SGD" + (", deep supervision" if deep_supervision
                                                              else ", deep supervision off")
        contenders.append(Contender(name, what, trainer, deep_supervision))
    for loss in losses:
        torch.manual_seed(0)
        trainer = nnLandmarkTrainer(fresh_plans(), prepared.configuration, 0, dataset_json, device)
        # the default recipe (nnU-Net's SGD and budget) with each heatmap loss; no deep supervision, no mirroring
        trainer.use_recipe(TrainingRecipe(heatmap=HeatmapLossConfig(loss=loss)))
        trainer.initialize()
        contenders.append(Contender(f"ours_{loss}", f"nnLandmarkTrainer, loss {loss}, SGD", trainer, False))
    for contender in contenders:
        contender.trainer.network.train()
    return contenders


def prefetch_batches(trainer: Any, count: int) -> list[dict]:
    """``count`` augmented batches from nnU-Net's dataloader of a deep-supervision trainer (targets as a list)."""
    loader, _ = trainer.get_dataloaders()
    batches = [next(loader) for _ in range(count)]
    for name in ("_finish", "finish"):
        if hasattr(loader, name):
            getattr(loader, name)()
            break
    return batches


def for_contender(batch: dict, deep_supervision: bool) -> dict:
    """The deep-supervision batch as a trainer without deep supervision gets it: the full-resolution target."""
    if deep_supervision:
        return batch
    return {**batch, "target": batch["target"][0]}


def synchronise(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(contenders: list[Contender], batches: list[dict], *, warmup: int, reps: int, steps_per_sample: int,
            device: Any) -> dict[str, list[float]]:
    """Seconds per iteration, one sample of ``steps_per_sample`` steps per contender per round."""
    from common import rotate

    cursor = 0

    def next_batch() -> dict:
        nonlocal cursor
        batch = batches[cursor % len(batches)]
        cursor += 1
        return batch

    for contender in contenders:
        for _ in range(warmup):
            contender.trainer.train_step(for_contender(next_batch(), contender.deep_supervision))
    synchronise(device)
    samples: dict[str, list[float]] = {c.name: [] for c in contenders}
    for round_index in range(reps):
        chosen = [next_batch() for _ in range(steps_per_sample)]  # every contender gets the same batches
        for contender in rotate(contenders, round_index):
            inputs = [for_contender(b, contender.deep_supervision) for b in chosen]
            synchronise(device)
            start = time.perf_counter()
            for batch in inputs:
                contender.trainer.train_step(batch)
            synchronise(device)
            samples[contender.name].append((time.perf_counter() - start) / steps_per_sample)
        say(f"  round {round_index + 1}/{reps}: " + ", ".join(f"{n} {s[-1]:.3f} s" for n, s in samples.items()))
    return samples


def as_leaves(output: Any) -> Any:
    """The network's output as fresh float leaves for the loss alone: a tensor, a deep-supervision list, or an
    ``ssce_null`` network's ``NullOutput`` (a named tuple that the loss reads by field, kept as its type)."""
    if hasattr(output, "_fields"):
        return type(output)(*(o.detach().float().requires_grad_() for o in output))
    if isinstance(output, (list, tuple)):
        return [o.detach().float().requires_grad_() for o in output]
    return output.detach().float().requires_grad_()


def measure_losses(contenders: list[Contender], batch: dict, *, reps: int, device: Any) -> dict[str, list[float]]:
    """Seconds of each trainer's loss, forward and backward, on its network's output (the loss's share)."""
    import torch
    from common import rotate

    inputs = {}
    with torch.no_grad():
        for contender in contenders:
            given = for_contender(batch, contender.deep_supervision)
            output = contender.trainer.network(given["data"].to(device))
            target = given["target"]
            target = [t.to(device) for t in target] if isinstance(target, list) else target.to(device)
            inputs[contender.name] = (output, target)
    samples: dict[str, list[float]] = {c.name: [] for c in contenders}
    for round_index in range(reps + 1):
        for contender in rotate(contenders, round_index):
            output, target = inputs[contender.name]
            leaves = as_leaves(output)
            synchronise(device)
            start = time.perf_counter()
            contender.trainer.loss(leaves, target).backward()
            synchronise(device)
            if round_index:  # the first round is the warm-up
                samples[contender.name].append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--plan", choices=("cpu", "nnunet"), default=None,
                        help="cpu: the demo's narrow network (default on CPU); nnunet: nnU-Net's planned network")
    parser.add_argument("--reps", type=int, default=None, help="timed rounds (default 7 on CPU, 20 on CUDA)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps-per-sample", type=int, default=None, help="default 1 on CPU, 5 on CUDA")
    parser.add_argument("--patch-size", type=int, nargs=3, default=None, help="override the planned patch size")
    parser.add_argument("--losses", nargs="+", default=["ssce", "mse", "bce_topk"])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--name", default="training_throughput", help="result file name under bench/results/")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    prepared = prepare()  # also sets nnU-Net's environment before nnunetv2 is imported
    import os

    os.environ["nnUNet_n_proc_DA"] = "0"  # batches are pre-fetched in this process
    import torch

    from nnlandmark.devices import resolve_device
    from nnlandmark.experiment_planning.stages import apply_plan_overrides

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    on_gpu = device.type == "cuda"
    plan = args.plan or ("nnunet" if on_gpu else "cpu")
    reps = args.reps or (20 if on_gpu else 7)
    steps = args.steps_per_sample or (5 if on_gpu else 1)
    plans = prepared.plans()
    overrides: dict[str, Any] = dict(CPU_OVERRIDES) if plan == "cpu" else {}
    if args.patch_size:
        overrides["patch_size"] = args.patch_size
    apply_plan_overrides(plans, prepared.configuration, overrides)
    conf = plans["configurations"][prepared.configuration]
    say(f"training throughput on {device} ({plan} plan: patch {conf['patch_size']}, batch {conf['batch_size']}, "
        f"features {conf['architecture']['arch_kwargs']['features_per_stage']}); {reps} interleaved rounds of "
        f"{steps} step(s) after {args.warmup} warm-up steps each")

    contenders = build_contenders(prepared, plans, device, args.losses)
    batches = prefetch_batches(contenders[0].trainer, 4)  # reused in turn: every contender gets the same ones
    samples = measure(contenders, batches, warmup=args.warmup, reps=reps, steps_per_sample=steps, device=device)

    loss_samples = measure_losses(contenders, batches[0], reps=max(3, reps), device=device)

    results: dict[str, dict[str, Any]] = {}
    for contender in contenders:
        stats = summary(samples[contender.name])
        results[contender.name] = {"description": contender.description, "seconds_per_iteration": stats,
                                   "iterations_per_second": 1.0 / stats["median"],
                                   "loss_forward_backward_ms": summary([1000 * t for t in loss_samples[contender.name]])}
    # paired: the two steps of a round ran next to each other on the same batches, so drifting load cancels
    ratios: dict[str, dict[str, float]] = {}
    for contender in contenders:
        if not contender.name.startswith("ours_"):
            continue
        for stock in ("stock_ds", "stock_no_ds"):
            paired = [s / o for s, o in zip(samples[stock], samples[contender.name], strict=True)]
            ratios[f"{contender.name}_vs_{stock}"] = {
                "paired_median": statistics.median(paired),
                "ratio_of_medians": results[contender.name]["iterations_per_second"]
                / results[stock]["iterations_per_second"],
            }
    say("iterations/s (median): " + ", ".join(f"{n} {r['iterations_per_second']:.3f}" for n, r in results.items()))
    say("loss forward+backward, ms (median): "
        + ", ".join(f"{n} {r['loss_forward_backward_ms']['median']:.0f}" for n, r in results.items()))
    for key, value in ratios.items():
        met = "meets" if value["paired_median"] >= 0.9 else "MISSES"
        say(f"  {key}: {value['paired_median']:.2f} x paired median, {value['ratio_of_medians']:.2f} x ratio of "
            f"medians  ({met} the >= 0.9 x target)")
    path = write_result(args.name, {
        "benchmark": "training throughput: train_step on identical pre-fetched batches, interleaved rounds",
        "device": str(device),
        "plan": plan,
        "patch_size": conf["patch_size"],
        "batch_size": conf["batch_size"],
        "features_per_stage": conf["architecture"]["arch_kwargs"]["features_per_stage"],
        "num_landmarks": len(prepared.dataset_json()["landmarks"]),
        "warmup_steps": args.warmup,
        "rounds": reps,
        "steps_per_sample": steps,
        "contenders": results,
        "ratios_iterations_per_second": ratios,
        "target": "ours >= 0.9 x stock iterations/s, judged on the paired median (per-round ratio)",
    })
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
