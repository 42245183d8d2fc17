"""The samplers under several workers on one storage: running trials, claims, and separate runs.

- The GP samplers condition on running trials (a constant liar at the worst
  observed value, :mod:`hyperlab.selection.samplers.gp.pending`): a suggestion
  made while another trial runs lands away from it, for every GP variant, and
  with no running trial the GP is the sequential one.
- Claim-then-check (:mod:`hyperlab.selection.samplers.claims`): a trial whose
  choice another trial claimed meanwhile chooses again (GP and network random search).
- Processes: 4 GP workers on one journal stay apart and lose little regret
  against a sequential run; 3 ``random_uniform`` workers never repeat a
  network; two separate search runs (as two machines) share one PostgreSQL
  study and finish it with exactly ``n_trials`` complete trials.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import time

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hyperlab.selection.samplers import claims
from hyperlab.selection.samplers.gp import ConstrainedGPEISampler, GPEIPerSecondSampler, GPEISampler
from hyperlab.selection.samplers.gp.gp import WarmFits
from hyperlab.selection.samplers.gp.pending import MIN_APART, Pending, with_fantasies
from hyperlab.selection.samplers.gp.sampler import CLAIM_ATTR as GP_CLAIM
from hyperlab.selection.samplers.network_random import CLAIM_ATTR as NETWORK_CLAIM
from hyperlab.selection.samplers.network_random import NetworkRandomSampler
from hyperlab.selection.study.runner import RunSpec, run_strategy
from hyperlab.selection.study.storage import open_storage
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.selection.table.table import Table

optuna.logging.set_verbosity(optuna.logging.ERROR)

SPACE = {"x": FloatDistribution(-5.0, 10.0), "y": FloatDistribution(0.0, 15.0)}
BRANIN_MIN = 0.397887  # Branin's global minimum (three minimizers)
# MIN_APART: two trials evaluated at the same time are at least this far apart, in the unit square of the
# features. Without the liar and the check, workers fitting one GP to one data set land within ~1e-3.


def branin(x: float, y: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x * x + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def _objective(trial, pause: float = 0.0) -> float:
    x, y = trial.suggest_float("x", -5.0, 10.0), trial.suggest_float("y", 0.0, 15.0)
    trial.set_user_attr("cost", 1.0 + (x + 5.0) / 15.0)
    trial.set_user_attr("latency_ms", 1.0 + y / 15.0)
    trial.set_user_attr("began", time.time())  # the evaluation, after the point was chosen and checked
    time.sleep(pause)  # lets the workers' trials overlap
    trial.set_user_attr("ended", time.time())
    return branin(x, y)


def _unit(params: dict) -> np.ndarray:
    return np.array([(params["x"] + 5.0) / 15.0, params["y"] / 15.0])


GP_SAMPLERS = {
    "gp_ei": lambda seed: GPEISampler(n_startup_trials=5, seed=seed),
    "gp_ei_per_second": lambda seed: GPEIPerSecondSampler(n_startup_trials=5, seed=seed),
    "gp_ei_constrained": lambda seed: ConstrainedGPEISampler(n_startup_trials=5, seed=seed, budget=1.5),
    # no observed point meets this budget: the feasibility term alone (its model gets the lie too)
    "gp_ei_constrained_infeasible": lambda seed: ConstrainedGPEISampler(n_startup_trials=5, seed=seed, budget=0.5),
}


# --------------------------------------------------------------------------- running trials in the GP


@pytest.mark.parametrize("name", sorted(GP_SAMPLERS))
def test_a_suggestion_made_while_a_trial_runs_lands_away_from_it(name):
    """Two trials asked one after the other, the first still running: the second is not the first again."""
    study = optuna.create_study(sampler=GP_SAMPLERS[name](0))
    study.optimize(_objective, n_trials=10)
    first = study.ask(SPACE)
    second = study.ask(SPACE)  # the first one is RUNNING, its claim written
    gap = float(np.linalg.norm(_unit(first.params) - _unit(second.params)))
    assert gap >= MIN_APART, f"{name}: {first.params} and {second.params} are {gap:.2g} apart"
    assert first._cached_frozen_trial.system_attrs.keys() == second._cached_frozen_trial.system_attrs.keys()


def test_fantasies_only_condition_the_posterior():
    """Kriging believer: the mean is unchanged everywhere (closed form of GP conditioning on its own mean),
    the variance drops at the pending points; constant liar: the mean there is the worst target. Both keep
    the kernel parameters; with no pending point the posterior is the sequential one."""
    rng = np.random.default_rng(0)
    X, pending, grid = rng.uniform(size=(12, 2)), rng.uniform(size=(2, 2)), rng.uniform(size=(50, 2))
    z = np.sin(4 * X[:, 0]) + X[:, 1]
    post = WarmFits().posterior(("s", "k", "t"), X, z, np.zeros(2, dtype=bool))
    believer = with_fantasies(post, Pending(pending))
    liar = with_fantasies(post, Pending(pending, pessimistic=True))
    for fantasy in (believer, liar):
        assert fantasy.kernel is post.kernel
        assert np.array_equal(fantasy.X[:12], X) and np.array_equal(fantasy.X[12:], pending)
        assert np.all(fantasy.predict(pending)[1] < post.predict(pending)[1])
    np.testing.assert_allclose(believer.predict(grid)[0], post.predict(grid)[0], atol=1e-6)
    noise = float(post.kernel.noise)
    np.testing.assert_allclose(liar.predict(pending)[0], z.max(), atol=10 * math.sqrt(noise) + 1e-3)
    assert with_fantasies(post, Pending(np.zeros((0, 2)))) is post and with_fantasies(post, None) is post


# --------------------------------------------------------------------------- claim-then-check


def test_claim_checked_chooses_again_while_its_choice_is_taken():
    study = optuna.create_study()
    trial = study.ask()
    picks = iter(["a", "b", "c"])
    seen = []

    def taken(others, point):
        seen.append(study.trials[trial.number].system_attrs["claim"])  # written before the check
        return point == "a"

    got = claims.claim_checked(study, trial, "claim", lambda attempt, rng: next(picks), str, taken)
    assert got == "b" and seen == ["a", "b"]
    assert study.trials[trial.number].system_attrs["claim"] == "b"


def test_claim_checked_keeps_its_choice_without_a_retry_once_every_point_is_taken(monkeypatch):
    study = optuna.create_study()
    trial = study.ask()
    monkeypatch.setattr(claims.time, "sleep", lambda s: pytest.fail("slept with no point left to move to"))
    chosen = []

    def choose(attempt, rng):
        chosen.append(attempt)
        return "a"

    got = claims.claim_checked(
        study, trial, "claim", choose, str, lambda others, p: True, every_point_taken=lambda others: True
    )
    assert got == "a" and chosen == [0]


@pytest.mark.parametrize("name", ["gp", "network_random"])
def test_a_used_up_finite_space_repeats_points_as_the_seed_says_without_a_retry(monkeypatch, name):
    """Three points, eight trials: from the fourth on every point is taken, so a repeat is unavoidable; the
    choice stands at once (a retry would sleep, and draw with fresh entropy), so a seed fixes the whole run."""
    monkeypatch.setattr(claims.time, "sleep", lambda s: pytest.fail("retried in a used-up space"))
    networks = [{"n": 0}, {"n": 1}, {"n": 2}]

    def run(seed: int) -> list[int]:
        if name == "gp":
            sampler = GPEISampler(n_startup_trials=2, seed=seed)
        else:
            sampler = NetworkRandomSampler(networks, lambda p: p["n"], [1.0, 2.0, 3.0], seed=seed)
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: (t.suggest_int("n", 0, 2) - 1) ** 2, n_trials=8)
        return [t.params["n"] for t in study.trials]

    first = run(3)
    assert sorted(set(first[:3])) == [0, 1, 2]  # no repeat while an untaken point remained
    assert run(3) == first


def test_network_random_chooses_again_after_a_collision(monkeypatch):
    """A stale read (another process's claim not seen at the draw) is caught by the check."""
    networks = [{"n": 0}, {"n": 1}]
    weights = [1e12, 1.0]  # every free draw is network 0
    study = optuna.create_study(sampler=NetworkRandomSampler(networks, lambda p: p["n"], weights, seed=0))
    a = study.ask()
    assert a.suggest_int("n", 0, 1) == 0
    late = NetworkRandomSampler(networks, lambda p: p["n"], weights, seed=1)
    fresh, reads = late.taken, []

    def stale_once(study, trial):  # the first draw misses a's claim (read before it landed); later reads see it
        reads.append(trial.number)
        return set() if len(reads) == 1 else fresh(study, trial)

    monkeypatch.setattr(late, "taken", stale_once)
    study.sampler = late
    b = study.ask()
    assert b.suggest_int("n", 0, 1) == 1
    claims_now = {t.number: t.system_attrs[NETWORK_CLAIM] for t in study.trials}
    assert claims_now == {a.number: 0, b.number: 1} and len(reads) == 2  # drawn twice


# --------------------------------------------------------------------------- worker processes


def _gp_worker(path: str, names: list[str], worker: int, n_trials: int, pause: float) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(path)
    for i, name in enumerate(names):
        sampler = GPEISampler(n_startup_trials=5, seed=1000 * i + worker)
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        study.optimize(
            lambda t: _objective(t, pause),
            callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=None)],
            n_trials=n_trials,
        )


def _regret(study: optuna.Study, n_trials: int) -> float:
    done = sorted((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: t.number)
    return min(t.value for t in done[:n_trials]) - BRANIN_MIN


def _overlapping_pairs(trials: list) -> list[tuple]:
    """Pairs of trials evaluated at the same time, both chosen by the GP sampler (it claimed their point;
    the first trials of a study, before its space is known, are Optuna's independent draws)."""
    chosen = [t for t in trials if t.state == TrialState.COMPLETE and GP_CLAIM in t.system_attrs]
    return [
        (a, b)
        for a, b in itertools.combinations(chosen, 2)
        if a.user_attrs["began"] < b.user_attrs["ended"] and b.user_attrs["began"] < a.user_attrs["ended"]
    ]


@pytest.mark.slow
def test_four_gp_workers_on_one_journal_stay_apart_and_keep_the_regret(tmp_path):
    """Every two trials evaluated at once are MIN_APART apart, and the 4 workers still search: over 5 seeds
    their median final regret is below that of seeded random search with as many trials.

    How close the parallel regret comes to one sequential GP's depends on how the workers interleave,
    that is on the machine's load (4 processes on 2 cores beside other tests: medians from 0.003 to
    0.011 against the sequential 4e-4), so that gap is measured, not asserted; a GP that ignored its
    running trials, or lost its model, would fall to random search's regret."""
    n_trials, seeds, pause = 40, [0, 1, 2, 3, 4], 0.05
    random = []
    for seed in seeds:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1000 * seed))
        study.optimize(_objective, n_trials=n_trials)
        random.append(_regret(study, n_trials))

    path = str(tmp_path / "journal.log")
    names = [f"branin-{seed}" for seed in seeds]
    for name in names:
        optuna.create_study(study_name=name, storage=open_storage(path))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_gp_worker, args=(path, names, w, n_trials, pause)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=400)
        assert p.exitcode == 0
    parallel, pairs = [], 0
    for name in names:
        study = optuna.load_study(study_name=name, storage=open_storage(path))
        assert len(study.trials) >= n_trials
        parallel.append(_regret(study, n_trials))
        for a, b in _overlapping_pairs(study.trials):
            pairs += 1
            gap = float(np.linalg.norm(_unit(a.params) - _unit(b.params)))
            assert gap >= MIN_APART, f"{name}: trials {a.number} and {b.number} ran at once, {gap:.2g} apart"
    assert pairs >= 10  # the workers did overlap: the check above is not vacuous
    assert np.median(parallel) < np.median(random), (parallel, random)


@pytest.mark.slow
def test_three_random_uniform_workers_never_repeat_a_network(tmp_path):
    """The real search path (slots on a journal, 3 worker processes), 2 studies of 60 trials of 84 networks."""
    table = Table.of(synthetic_table(layers=(1, 2, 3), widths=(16, 32, 64, 128), n_seeds=2, seed=3, fail_rate=0.0))
    spec = RunSpec(
        strategy="random_uniform",
        n_trials=60,
        repeats=2,
        n_startup_trials=1,  # unused by a random strategy
        cost="latency",
        storage=str(tmp_path / "j.log"),
        n_workers=3,
    )
    trials = run_strategy(table, spec)
    assert len(trials) == 120 and (trials["state"] == "COMPLETE").all()
    # which workers get slots is the scheduler's business (on a loaded machine one may start after the others
    # have claimed every slot); that several processes shared the studies is what the check below needs
    assert set(trials["worker"]) <= {0, 1, 2} and trials["worker"].nunique() >= 2
    for repeat, arms in trials.groupby("repeat")["arch"]:
        assert arms.is_unique, f"repeat {repeat}: {len(arms) - arms.nunique()} repeated networks"


# --------------------------------------------------------------------------- two runs, one PostgreSQL study


@pytest.mark.slow
def test_two_separate_runs_share_one_postgres_study(tmp_path, postgres_url):
    """Two search processes from two folders (as two machines), one server: exactly n_trials per study."""
    from test_selection_study_postgres import _start, _workdir

    n_trials, repeats = 8, 2
    runs = []
    for machine in ("a", "b"):
        folder = tmp_path / machine
        folder.mkdir()
        params = _workdir(folder, storage=postgres_url, n_workers=1, n_trials=n_trials, repeats=repeats)
        runs.append((folder, _start(folder, params, "gp_ei")))
    logs = []
    for _, proc in runs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        logs.append(err)
    assert any("joining with" in err for err in logs)  # the later run joined the studies, it made none
    frames = [pd.read_csv(folder / "data" / "search" / "gp_ei.csv", dtype={"arch": str}) for folder, _ in runs]
    pd.testing.assert_frame_equal(frames[0], frames[1])  # both read the same finished studies
    storage = optuna.storages.RDBStorage(postgres_url)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage) if s.study_name.startswith("gp_ei-")]
    assert len(names) == repeats
    for name in names:
        trials = optuna.load_study(study_name=name, storage=storage).trials
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        assert len(complete) == len(trials) == n_trials  # none lost, none added, none run twice
        assert sorted(t.user_attrs["slot"] for t in complete) == list(range(n_trials))
        assert len({t.user_attrs["arch"] for t in complete}) == n_trials  # the GP's claims hold across runs


@pytest.fixture(scope="module")
def postgres_url():
    """The throwaway server of tests/test_selection_study_postgres.py (skipped, or failed in CI, without one)."""
    from test_selection_study_postgres import postgres_url as server

    yield from server.__wrapped__()
