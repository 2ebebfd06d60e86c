"""The models by name (make_model), and what each refuses."""

from __future__ import annotations

import numpy as np
import pytest

from gridpulse.forecast import (
    MODELS,
    EnsembleModel,
    LightGBMModel,
    LinearModel,
    MSTLModel,
    SeasonalNaive,
    make_model,
)
from tests.forecast.series import synthetic


def test_make_model_with_an_unknown_name_raises_naming_the_known_models() -> None:
    with pytest.raises(
        ValueError, match=r"model='prophet' is not one of seasonal-naive, lightgbm, mstl, linear, ensemble"
    ) as exc:
        make_model("prophet")
    for name in MODELS:
        assert name in str(exc.value)


def test_make_model_builds_each_known_model_with_its_settings() -> None:
    assert set(MODELS) == {"seasonal-naive", "lightgbm", "mstl", "linear", "ensemble"}
    naive = make_model("seasonal-naive", season="day")
    assert isinstance(naive, SeasonalNaive) and naive.params()["season"] == "day"
    gbm = make_model("lightgbm", rounds=7, horizon_hours=48)
    assert (
        isinstance(gbm, LightGBMModel) and gbm.params()["rounds"] == 7 and gbm.params()["horizon_hours"] == 48
    )
    mstl = make_model("mstl", train_weeks=4)
    assert isinstance(mstl, MSTLModel) and mstl.params()["train_weeks"] == 4
    lin = make_model("linear", lookback_hours=168, horizon_hours=48)
    assert isinstance(lin, LinearModel) and lin.params()["lookback_hours"] == 168
    ens = make_model("ensemble", horizon_hours=48, linear={"lookback_hours": 168}, lightgbm={"rounds": 7})
    assert isinstance(ens, EnsembleModel)
    assert ens.params()["linear"]["lookback_hours"] == 168 and ens.params()["lightgbm"]["rounds"] == 7
    assert ens.params()["lightgbm"]["horizon_hours"] == ens.params()["linear"]["horizon_hours"] == 48
    for name, cls in MODELS.items():
        assert make_model(name).name == name == cls.name


def test_make_model_passes_an_unknown_setting_on_as_a_type_error() -> None:
    with pytest.raises(TypeError):
        make_model("seasonal-naive", rounds=3)


def test_lightgbm_predicts_only_after_fit() -> None:
    with pytest.raises(ValueError, match="only after fit"):
        LightGBMModel().predict([synthetic(weeks=3)], 24)


def test_lightgbm_refuses_a_horizon_longer_than_it_learnt() -> None:
    h = synthetic(weeks=4)
    model = LightGBMModel(horizon_hours=24, rounds=5, max_origins=10, threads=1).fit([h])
    assert model.predict([h], 24)[0].steps == 24
    with pytest.raises(ValueError, match="trained for 24 h ahead, asked for 25 steps"):
        model.predict([h], 25)


def test_lightgbm_needs_more_than_two_weeks_to_train() -> None:
    with pytest.raises(ValueError, match="more than two weeks"):
        LightGBMModel(rounds=5).fit([synthetic(weeks=2)])


def test_mstl_needs_three_training_weeks_and_two_weeks_of_history() -> None:
    with pytest.raises(ValueError, match="train_weeks must be 3 or more"):
        MSTLModel(train_weeks=2)
    short = synthetic(weeks=1)
    with pytest.raises(ValueError, match="mstl needs two weeks of history"):
        MSTLModel().predict([short], 24)


def test_mstl_fills_gaps_before_fitting() -> None:
    h = synthetic(weeks=3, seed=8)
    h.values[100:110] = np.nan
    fc = MSTLModel(train_weeks=3).predict([h], 24)[0]
    assert np.isfinite(fc.mean).all()


def test_versions_name_the_library_doing_the_work() -> None:
    assert make_model("seasonal-naive").version().startswith("gridpulse ")
    assert ", lightgbm " in make_model("lightgbm").version()
    assert ", statsforecast " in make_model("mstl").version()
    assert ", numpy " in make_model("linear").version()
    assert ", lightgbm " in make_model("ensemble").version()


def test_a_refit_lightgbm_model_forgets_the_calibration_of_its_earlier_fit() -> None:
    noisy = synthetic("noisy", weeks=8, sigma=10.0, seed=1)
    calm = synthetic("calm", weeks=8, sigma=2.0, seed=2)
    settings = {"rounds": 20, "max_origins": 30, "threads": 1}
    refit = LightGBMModel(**settings).fit([noisy, calm]).fit([calm])
    fresh = LightGBMModel(**settings).fit([calm])
    a, b = refit.predict([noisy], 24)[0], fresh.predict([noisy], 24)[0]
    np.testing.assert_array_equal(a.mean, b.mean)  # the same booster...
    np.testing.assert_array_equal(a.hi80 - a.lo80, b.hi80 - b.lo80)  # ...so the same bounds


@pytest.mark.parametrize("name", ["lightgbm", "linear", "ensemble"])
def test_the_forecast_job_sets_up_models_that_learn_a_horizon_for_the_configured_one(name: str) -> None:
    from gridpulse.config import load_settings
    from gridpulse.jobs.forecasts import model_for

    settings = load_settings(env={"GRIDPULSE_FORECAST_HORIZON_DAYS": "3", "GRIDPULSE_FORECAST_MODEL": name})
    model = model_for(settings)
    assert model.name == name and model.params()["horizon_hours"] == 72
