"""Training curves with matplotlib (History.plot, `loom plot-history`)."""
import os

from ._loom import Error


def plot_history(history, path, keys=None, epochs=None):
    """One panel per quantity (loss, each metric), its val_ curve in the same panel; saved
    to `path` (the format from its extension: .png, .pdf, .svg). Returns the path."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise Error(f"plotting needs matplotlib (Debian: python3-matplotlib): {e}") from None
    if not history:
        raise Error("plot: the history is empty (no epoch has finished)")
    base = [k for k in history if not k.startswith("val_")]
    base += [k[4:] for k in history if k.startswith("val_") and k[4:] not in history]
    if keys is not None:
        unknown = [k for k in keys if k not in base]
        if unknown:
            raise Error(f"plot: {', '.join(unknown)} not in the history ({', '.join(base)})")
        base = list(keys)
    fig, axes = plt.subplots(1, len(base), figsize=(4.5 * len(base), 3.5), squeeze=False)
    for ax, k in zip(axes[0], base):
        for name in (k, "val_" + k):
            if name in history:
                ys = history[name]
                xs = epochs if epochs and len(epochs) == len(ys) else range(1, len(ys) + 1)
                ax.plot(list(xs), ys, marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_title(k)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = os.fspath(path)
    try:
        fig.savefig(path)
    except (OSError, ValueError) as e:
        raise Error(f"plot: cannot write {path}: {e}") from None
    finally:
        plt.close(fig)
    return path
