"""Model.fit / evaluate / train_on_batch against `loom train` and `loom eval`, History,
and the callbacks."""
import csv

import numpy as np
import pytest

import loom
from conftest import REBER, REG, run_loom


def reg_model():
    return loom.Model.from_source(REG, name="reg.loom")


def read_history_csv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: [np.float32(r[k]) for r in rows] for k in rows[0] if k != "epoch"}


@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffle", "in-order"])
def test_fit_equals_loom_train_bit_for_bit(reber_data, tmp_path, shuffle):
    d = reber_data
    flags = ["--shuffle"] if shuffle else []
    run_loom("train", REBER, "--data", d / "train.npz", "--val", d / "val.npz", "-o",
             tmp_path / "cli.npz", "--epochs", 2, "--seed", 2, "--history", tmp_path / "h.csv",
             *flags)
    tr, va = np.load(d / "train.npz"), np.load(d / "val.npz")
    m = loom.Model.from_file(REBER)
    hist = m.fit({"x": tr["x"]}, {"label": tr["label"]}, epochs=2, shuffle=shuffle, seed=2,
                 validation_data=({"x": va["x"]}, {"label": va["label"]}), verbose=0)
    assert list(hist.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert hist.epoch == [0, 1] and m.history is hist
    cli = read_history_csv(tmp_path / "h.csv")
    for k, values in cli.items():  # the CSV holds f32s
        assert [np.float32(v) for v in hist.history[k]] == values, k
    w = np.load(tmp_path / "cli.npz")
    assert set(w) == set(m.weights)
    for k in w:
        assert np.array_equal(w[k], m.weights[k]), k
    # evaluate equals loom eval on the trained weights
    out, _ = run_loom("eval", REBER, "--weights", tmp_path / "cli.npz", "--data", d / "val.npz")
    want = dict(line.split(": ") for line in out.strip().splitlines())
    loss, acc = m.evaluate(va["x"], va["label"])
    assert f"{loss:.6g}" == want["loss"] and f"{acc:.6g}" == want["accuracy"]
    assert loss == hist.history["val_loss"][-1]


def test_fit_from_loaded_weights_and_defaults(reg_data, tmp_path):
    x, t = reg_data
    np.savez(tmp_path / "d.npz", x=x, t=t)
    src = tmp_path / "reg.loom"
    src.write_text(REG)
    run_loom("init", src, "-o", tmp_path / "w0.npz", "--seed", 9)
    run_loom("train", src, "--data", tmp_path / "d.npz", "--weights", tmp_path / "w0.npz",
             "-o", tmp_path / "w.npz")  # the train block's 3 epochs of 8 rows, in order
    m = loom.Model.from_file(src)
    m.load_weights(tmp_path / "w0.npz")
    hist = m.fit(x.astype(np.float64), t, shuffle=False, verbose=0)  # converted once
    assert len(hist.history["loss"]) == 3
    w = np.load(tmp_path / "w.npz")
    assert all(np.array_equal(w[k], m.weights[k]) for k in w)


def test_validation_split_is_the_last_rows(reg_data):
    x, t = reg_data
    a, b = reg_model(), reg_model()
    ha = a.fit(x, t, validation_split=0.25, verbose=0)
    hb = b.fit(x[:30], t[:30], validation_data=(x[30:], t[30:]), verbose=0)
    assert ha.history == hb.history


def test_train_on_batch_and_evaluate(reg_data):
    x, t = reg_data
    a, b = reg_model(), reg_model()
    a.init_weights(3)
    b.init_weights(3)
    r = a.train_on_batch(x[:8], t[:8], return_dict=True)
    assert set(r) == {"loss", "mae"}
    b.fit(x[:8], t[:8], epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    loss, mae = a.evaluate(x, t)
    assert a.evaluate(x, t, return_dict=True) == {"loss": loss, "mae": mae}
    assert a.test_on_batch(x, t) == a.evaluate(x, t, batch_size=40)
    # inference sees the trained weights
    y = a(x=x)
    assert np.isclose(np.mean((y - t) ** 2), loss, rtol=1e-5)


def test_data_errors(reg_data):
    x, t = reg_data
    m = reg_model()
    with pytest.raises(loom.Error, match=r"fit: missing array 't' \(the model's target f32\[B,1\]\)"):
        m.fit(x, {}, verbose=0)
    with pytest.raises(loom.Error, match=r"fit: array 't' has 39 rows but 'x' has 40"):
        m.fit(x, t[:39], verbose=0)
    with pytest.raises(loom.Error, match=r"fit: array 'x' has shape \[40,2\] but the model "
                                         r"expects \[B,3\]"):
        m.fit(x[:, :2], t, verbose=0)
    with pytest.raises(loom.Error, match=r"validation data: array 't'"):
        m.fit(x, t, validation_data=(x, t[:, :0]), verbose=0)
    with pytest.raises(loom.Error, match=r"fit: batch_size is 0; it must be a positive integer"):
        m.fit(x, t, batch_size=0, verbose=0)
    with pytest.raises(loom.Error, match=r"validation_split is 1.5"):
        m.fit(x, t, validation_split=1.5, verbose=0)
    with pytest.raises(loom.Error, match=r"'t' given in both x and y"):
        m.fit({"x": x, "t": t}, t, verbose=0)
    tagger = loom.Model.from_source(
        "model tag(x: i32[B, T]) -> (y: f32[B, T, 3]) {\n  e = embedding(x, 5, 2)\n"
        "  y = dense(e, 3, activation=softmax)\n}\n\ntrain tag(k: i32[B, T]) {\n"
        "  loss = sparse_categorical_crossentropy(y, k)\n  optimizer = sgd(learning_rate=0.1)\n}\n")
    with pytest.raises(loom.Error, match=r"fit: array 'k': label 3 at \[1, 0\] is outside \[0, 2\]"):
        tagger.fit(np.array([[1, 2], [3, 4]]), np.array([[0, 1], [3, 2]]), verbose=0)
    plain = loom.Model.from_source("model m(x: f32[B, 3]) -> (y: f32[B, 1]) {\n"
                                   "  y = dense(x, 1)\n}\n", name="plain.loom")
    with pytest.raises(loom.Error, match=r"train"):
        plain.fit(x, t, verbose=0)


def test_progress_line(reg_data, capsys):
    x, t = reg_data
    reg_model().fit(x, t, epochs=2, verbose=2, validation_split=0.2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    assert out[1].startswith("4/4 - ") and " - loss: " in out[1] and " - mae: " in out[1]
    assert out[1].index(" - val_loss: ") > out[1].index(" - mae: ")


class Scripted(loom.callbacks.Callback):
    """Replaces logs[key] with scripted values, before the callbacks under test read them,
    and keeps each epoch's weights."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values, self.weights = key, values, []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def test_early_stopping_restores_the_best_weights(reg_data):
    x, t = reg_data
    m = reg_model()
    script = Scripted("val_loss", [1.0, 0.5, 0.7, 0.6, 0.2, 0.1])
    stop = loom.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                        restore_best_weights=True)
    hist = m.fit(x, t, epochs=6, validation_split=0.2, callbacks=[script, stop], verbose=0)
    assert hist.history["val_loss"] == [1.0, 0.5, 0.7, 0.6]
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1 and m.stop_training
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), script.weights[1]))
    assert not np.array_equal(m.get_weights()[0], script.weights[3][0])
    # and training continues from the restored weights
    m.fit(x, t, epochs=1, verbose=0)


def test_early_stopping_modes_and_baseline(reg_data):
    x, t = reg_data
    script = Scripted("accuracy", [0.5, 0.6, 0.6, 0.6, 0.6])
    stop = loom.callbacks.EarlyStopping(monitor="accuracy", patience=1, min_delta=0.05)
    reg_model().fit(x, t, epochs=5, callbacks=[script, stop], verbose=0)
    assert stop.mode == "max" and stop.stopped_epoch == 2
    # an improvement that does not beat the baseline does not reset the wait
    for baseline, stopped in [(0.1, 2), (None, 3)]:
        script = Scripted("loss", [0.9, 0.8, 0.8, 0.8, 0.8])
        stop = loom.callbacks.EarlyStopping(monitor="loss", patience=2, baseline=baseline)
        reg_model().fit(x, t, epochs=5, callbacks=[script, stop], verbose=0)
        assert stop.stopped_epoch == stopped
    with pytest.warns(UserWarning, match="'val_auc', which is not available"):
        reg_model().fit(x, t, epochs=1, verbose=0,
                        callbacks=[loom.callbacks.EarlyStopping(monitor="val_auc")])


def test_reduce_lr_on_plateau(reg_data):
    x, t = reg_data
    m = reg_model()
    script = Scripted("val_loss", [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5])
    plateau = loom.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.02)
    hist = m.fit(x, t, epochs=7, validation_split=0.2, callbacks=[script, plateau], verbose=0)
    assert hist.history["learning_rate"] == pytest.approx([0.05, 0.05, 0.05, 0.025, 0.025,
                                                           0.025, 0.02])
    assert m.optimizer.learning_rate == pytest.approx(0.02)


def test_learning_rate_scheduler_equals_loom_train_learning_rate(reg_data, tmp_path):
    x, t = reg_data
    np.savez(tmp_path / "d.npz", x=x, t=t)
    src = tmp_path / "reg.loom"
    src.write_text(REG)
    run_loom("train", src, "--data", tmp_path / "d.npz", "--learning-rate", 0.01, "-o",
             tmp_path / "w.npz")
    m = loom.Model.from_file(src)
    sched = loom.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01)
    hist = m.fit(x, t, shuffle=False, callbacks=[sched], verbose=0)
    assert hist.history["learning_rate"] == [0.01] * 3
    w = np.load(tmp_path / "w.npz")
    assert all(np.array_equal(w[k], m.weights[k]) for k in w)
    with pytest.raises(loom.Error, match="not a number"):
        m.fit(x, t, callbacks=[loom.callbacks.LearningRateScheduler(lambda e: "x")], verbose=0)
    with pytest.raises(loom.Error, match="must be positive"):
        m.fit(x, t, callbacks=[loom.callbacks.LearningRateScheduler(lambda e: -1.0)], verbose=0)


def test_model_checkpoint_and_csv_logger(reg_data, tmp_path):
    x, t = reg_data
    m = reg_model()
    script = Scripted("val_loss", [0.5, 0.7, 0.4])
    every = loom.callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch:02d}.npz"))
    best = loom.callbacks.ModelCheckpoint(tmp_path / "best-{epoch}.npz", save_best_only=True)
    log = loom.callbacks.CSVLogger(tmp_path / "log.csv")
    hist = m.fit(x, t, validation_split=0.2, callbacks=[script, every, best, log], verbose=0)
    for e in range(3):
        saved = np.load(tmp_path / f"w-{e + 1:02d}.npz")
        assert all(np.array_equal(saved[s.name], w)
                   for s, w in zip(m.weight_specs, script.weights[e]))
    assert sorted(p.name for p in tmp_path.glob("best-*")) == ["best-1.npz", "best-3.npz"]
    rows = list(csv.reader(open(tmp_path / "log.csv")))
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert [float(r[3]) for r in rows[1:]] == [0.5, 0.7, 0.4]
    assert float(rows[1][1]) == hist.history["loss"][0]
    with pytest.raises(loom.Error, match=r"names 'nope'"):
        m.fit(x, t, epochs=1, verbose=0,
              callbacks=[loom.callbacks.ModelCheckpoint(str(tmp_path / "{nope}.npz"))])


def test_user_callback_hooks(reg_data):
    x, t = reg_data
    calls = []

    class Recorder(loom.callbacks.Callback):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                calls.append(name)
            return super().__getattribute__(name)

    hist = reg_model().fit(x, t, epochs=2, batch_size=16, validation_split=0.2,
                           callbacks=[Recorder()], verbose=0)
    epoch = (["on_epoch_begin"] + ["on_train_batch_begin", "on_train_batch_end"] * 2
             + ["on_test_begin"] + ["on_test_batch_begin", "on_test_batch_end"]
             + ["on_test_end", "on_epoch_end"])
    assert calls == ["on_train_begin"] + epoch * 2 + ["on_train_end"]
    assert len(hist.history["loss"]) == 2

    class Stopper(loom.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    assert len(reg_model().fit(x, t, epochs=5, callbacks=[Stopper()], verbose=0).epoch) == 1
    with pytest.raises(loom.Error, match="is not a loom.callbacks.Callback"):
        reg_model().fit(x, t, callbacks=[print], verbose=0)


def test_history_plot(reg_data, tmp_path):
    x, t = reg_data
    hist = reg_model().fit(x, t, epochs=2, validation_split=0.2, verbose=0)
    path = hist.plot(tmp_path / "curves.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(loom.Error, match=r"plot: accuracy not in the history \(loss, mae\)"):
        hist.plot(tmp_path / "c.png", keys=["accuracy"])
    with pytest.raises(loom.Error, match="cannot write"):
        hist.plot(tmp_path / "missing" / "c.png")


def test_cli_early_stopping_and_plateau_equal_the_callbacks(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    t = (x @ np.array([[0.5], [-1.0], [2.0]], np.float32) + 0.3
         + 0.3 * rng.standard_normal((40, 1))).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x[:30], t=t[:30])
    np.savez(tmp_path / "v.npz", x=x[30:], t=t[30:])
    src = tmp_path / "reg.loom"
    src.write_text(REG)
    _, err = run_loom("train", src, "--data", tmp_path / "d.npz", "--val", tmp_path / "v.npz",
                      "--epochs", 40, "--shuffle", "--early-stopping", 2, "--restore-best-weights",
                      "--reduce-lr-on-plateau", 1, "--lr-factor", 0.5, "--history",
                      tmp_path / "h.csv", "-o", tmp_path / "w.npz")
    assert "Epoch 5: reducing the learning rate to 0.025" in err
    assert "Epoch 6: reducing the learning rate to 0.0125" in err
    assert "Epoch 6: early stopping (val_loss has not improved since epoch 4)" in err
    m = reg_model()
    stop = loom.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    hist = m.fit(x, t, epochs=40, validation_split=0.25, verbose=0,
                 callbacks=[loom.callbacks.ReduceLROnPlateau(patience=1, factor=0.5), stop])
    assert hist.history["learning_rate"] == [0.05] * 5 + [0.025]  # before each reduction
    assert m.optimizer.learning_rate == 0.0125
    cli = read_history_csv(tmp_path / "h.csv")
    assert cli["val_loss"] == [np.float32(v) for v in hist.history["val_loss"]]
    w = np.load(tmp_path / "w.npz")
    assert all(np.array_equal(w[k], m.weights[k]) for k in w)  # epoch 4's, restored
    with pytest.raises(AssertionError, match=r"--monitor val_mae is not recorded; this run "
                                             r"records loss, mae \(val_ columns need --val\)"):
        run_loom("train", src, "--data", tmp_path / "d.npz", "--early-stopping", 1,
                 "--monitor", "val_mae", "-o", tmp_path / "w2.npz")
