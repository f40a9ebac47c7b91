"""Forecasts: a bigger model's scores (two steps, Bhagia et al. 2024) and when a run being
trained will cross a task's loss threshold.

Public API: :func:`forecast` (step 1 loss from parameters and tokens, step 2 score from
loss, bootstrap intervals) and :func:`forecast_crossings` (loss against tokens, extrapolated
to each threshold of a :class:`~tracker.fit.table.ThresholdTable`).
"""

from tracker.forecast.crossing import Crossing, forecast_crossings
from tracker.forecast.predict import Forecast, ForecastRow, forecast
from tracker.forecast.runs import runs_of

__all__ = ["Crossing", "Forecast", "ForecastRow", "forecast", "forecast_crossings", "runs_of"]
