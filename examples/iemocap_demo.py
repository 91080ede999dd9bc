"""Train and evaluate DualBranchVEGA (the VEGA paper's model) on IEMOCAP-style data.

With no arguments, everything is SYNTHETIC and offline: IEMOCAP-shaped random dialogues and anchors
built by a tiny random-weight open_clip model from generated images. It shows the pipeline works,
not what VEGA achieves. With the official files it runs the paper's setup:

    python examples/iemocap_demo.py                                   # synthetic, ~30 s on 2 idle CPU cores
    python examples/iemocap_demo.py --features IEMOCAP_features.pkl --anchors 35_anchor.pt
    python examples/iemocap_demo.py --features IEMOCAP_features.pkl \\
        --anchor-images faces/ --clip-model ViT-B-32-quickgelu --pretrained openai
    python examples/iemocap_demo.py --features IEMOCAP_features.pkl --anchors 35_anchor.pt \\
        --checkpoint IEMOCAP.pth                                      # evaluate the official checkpoint
    torchrun --nproc_per_node=2 examples/iemocap_demo.py              # data-parallel (gloo on CPU)
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

from vega_anchors import EMOTION_LABELS, AnchorBank, DualBranchVEGA, OpenCLIPImageEncoder, VEGAConfig
from vega_anchors.data import FeatureSet, synthetic_dialogues
from vega_anchors.official import load_anchors, load_feature_pickle, load_model
from vega_anchors.recipes import preset_train_config
from vega_anchors.toy import register_tiny_clip, write_synthetic_faces
from vega_anchors.training import TrainConfig, evaluate, fit, init_distributed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data and anchors (all optional: without them the demo is synthetic)")
    data.add_argument(
        "--features",
        type=Path,
        help="official feature pickle (VEGA 7-tuple, DialogueRNN 9-tuple, "
        "SDT 12-tuple); a plain pickle: open only files you trust",
    )
    data.add_argument("--dataset", choices=["iemocap", "meld"], help="override the dataset detected from --features")
    data.add_argument(
        "--anchors",
        type=Path,
        help="official anchor cache (35_anchor.pt) or a bank saved by AnchorBank.save (.safetensors)",
    )
    data.add_argument("--anchor-images", type=Path, help="folder with one sub-folder of face images per emotion")
    data.add_argument(
        "--clip-model",
        default="ViT-B-32-quickgelu",
        help="open_clip model for --anchor-images (paper: ViT-B-32-quickgelu)",
    )
    data.add_argument("--pretrained", default="openai", help="open_clip tag or local checkpoint for --clip-model")
    data.add_argument(
        "--checkpoint",
        type=Path,
        help="evaluate this official checkpoint (IEMOCAP.pth) on the test "
        "split instead of training; needs --features and anchors",
    )
    train = p.add_argument_group("training (defaults: the official recipe with real data, a fast one when synthetic)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--hidden-dim", type=int, help="model width (official: 768)")
    train.add_argument("--patience", type=int, help="early stopping patience in epochs")
    train.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    train.add_argument("--bucket", action="store_true", help="length-bucketed batches (less padding)")
    train.add_argument(
        "--select-on-test-paper-protocol",
        action="store_true",
        help="pick the best epoch by TEST F1 like the official code (optimistic; paper reproduction)",
    )
    train.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out-dir", type=Path, help="write checkpoints (last.pt, best.pt) and metrics.json here")
    train.add_argument("--resume", type=Path, help="resume from a last.pt written by an earlier run")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def load_bank(args: argparse.Namespace, classes: tuple[str, ...], device: str | None) -> AnchorBank:
    if args.anchors is not None:
        if args.anchors.suffix == ".safetensors":
            return AnchorBank.load(args.anchors)
        return load_anchors(args.anchors, classes=classes)
    encoder = OpenCLIPImageEncoder(args.clip_model, args.pretrained, device=device)
    return AnchorBank.from_image_folder(args.anchor_images, encoder, classes=classes)


def synthetic_setup(args: argparse.Namespace, rank: int) -> tuple[FeatureSet, AnchorBank, str]:
    classes = EMOTION_LABELS["iemocap"]
    data = synthetic_dialogues("iemocap", seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        faces = write_synthetic_faces(Path(tmp) / "faces", classes, per_class=8, seed=args.seed)
        torch.manual_seed(args.seed)  # same random CLIP weights on every rank
        encoder = OpenCLIPImageEncoder(register_tiny_clip(), pretrained=None, device="cpu", progress=False)
        bank = AnchorBank.from_image_folder(faces, encoder, classes=classes)
    note = (
        "SYNTHETIC RUN: the dialogues are random IEMOCAP-shaped features with a planted class signal, and the "
        f"anchors come from {bank.counts.sum().item()} generated images encoded by a tiny RANDOM-weight open_clip "
        "model. The scores below show the pipeline works; they say nothing about VEGA on real data."
    )
    return data, bank, note


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rank, world = init_distributed()
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, format="%(message)s", stream=sys.stdout)
    log = logging.getLogger("iemocap_demo")
    torch.set_num_threads(max(1, torch.get_num_threads() // world))
    start = time.perf_counter()
    synthetic = args.features is None
    if synthetic:
        if args.anchors or args.anchor_images or args.checkpoint:
            raise SystemExit("--anchors/--anchor-images/--checkpoint need --features (the real dialogue features)")
        data, bank, note = synthetic_setup(args, rank)
        config = VEGAConfig.iemocap(
            modalities=data.modality_dims, hidden_dim=args.hidden_dim or 64, dropout=0.1, anchor_dim=bank.dim
        )
        train_cfg = TrainConfig(
            epochs=args.epochs or 12, batch_size=args.batch_size or 9, lr=args.lr or 2e-3, patience=args.patience or 30
        )
    else:
        if args.anchors is None and args.anchor_images is None:
            raise SystemExit("give --anchors 35_anchor.pt or --anchor-images DIR with --features")
        data = load_feature_pickle(args.features, dataset=args.dataset)
        dataset = data.dataset or "iemocap"
        bank = load_bank(args, data.label_names, args.device)
        preset = VEGAConfig.meld if dataset == "meld" else VEGAConfig.iemocap
        overrides: dict = {"modalities": data.modality_dims, "num_speakers": data.num_speakers, "anchor_dim": bank.dim}
        if args.hidden_dim:
            overrides["hidden_dim"] = args.hidden_dim
        config = preset(**overrides)
        given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "patience": args.patience}
        train_cfg = preset_train_config(dataset, **{k: v for k, v in given.items() if v is not None})
        anchor_source = args.anchors or args.anchor_images
        note = f"REAL DATA: {args.features} ({data.layout} layout, {dataset}); anchors: {anchor_source}"
    train_cfg = train_cfg.model_copy(
        update={
            "precision": args.precision,
            "bucket_by_length": args.bucket,
            "seed": args.seed,
            "device": args.device,
            "select_on_test_paper_protocol": args.select_on_test_paper_protocol,
            "progress": not args.no_progress,
            "checkpoint_dir": str(args.out_dir) if args.out_dir else None,
            "log_path": str(args.out_dir / "metrics.json") if args.out_dir else None,
        }
    )
    log.info(note)
    log.info(data.summary())

    if args.checkpoint is not None:
        model = load_model(args.checkpoint, config, bank).float()
        result = evaluate(
            model, data.test, batch_size=train_cfg.batch_size, device=args.device, class_names=data.label_names
        )
        log.info(
            "official checkpoint %s on the test split: weighted F1 %.4f, accuracy %.4f",
            args.checkpoint,
            result.metrics.weighted_f1,
            result.metrics.accuracy,
        )
        log.info("\n%s", result.metrics.report())
        return 0

    torch.manual_seed(args.seed)
    model = DualBranchVEGA(config, bank)
    log.info(
        "model: %.2fM parameters, modalities %s, hidden %d; training %d epochs on %d dialogues (world size %d)",
        sum(p.numel() for p in model.parameters()) / 1e6,
        config.modality_names,
        config.hidden_dim,
        train_cfg.epochs,
        len(data.train),
        world,
    )
    result = fit(
        model,
        data.train,
        val=data.dev or None,
        test=data.test,
        config=train_cfg,
        class_names=data.label_names,
        resume_from=args.resume,
    )
    if rank == 0:
        assert result.test is not None
        log.info(
            "best epoch %d (selected on %s, weighted F1 %.4f)", result.best_epoch, result.selected_on, result.best_score
        )
        log.info(
            "test: weighted F1 %.4f, accuracy %.4f (%d utterances)\n%s",
            result.test.metrics.weighted_f1,
            result.test.metrics.accuracy,
            result.test.metrics.num_samples,
            result.test.metrics.report(),
        )
        log.info("finished in %.1f s", time.perf_counter() - start)
        if synthetic:
            log.info(
                "Reminder: data and anchors were SYNTHETIC (random features, random-weight CLIP, generated images)."
            )
    if world > 1:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
