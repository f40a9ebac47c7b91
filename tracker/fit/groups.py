"""What a group of checkpoints is, for the fit: `tracker fit/report --group`.

A group is what the joint bootstrap resamples with the examples, what the design effect
clusters, what the emergence score compares, and what "same loss, same score" (Du et al.)
tests: by default each model size, `family/size`. Other questions need other groups:
open_lm's 104 final models are one family per training corpus, so "is the score a function
of C4 loss alone across corpora?" takes the family as the group; the OLMo ladder's 30 runs
are `<params>-<multiple>xC`, so the same test across model sizes takes the size's first part.

    size              each family/size (the default)
    family            each family
    REGEX             the named group `group` of REGEX searched in "family/size", e.g.
                      '/(?P<group>[0-9.]+[MB])-' for the ladder's model sizes

A regrouped table keeps every point; its family column becomes GROUPED and its size the
group's label, so figures and tables name the groups.
"""

from __future__ import annotations

import re

import pandas as pd

from tracker.errors import TrackerError

GROUPED = "group"
DEFAULT = "size"


def regroup(points: pd.DataFrame, spec: str | None) -> pd.DataFrame:
    """`points` with their groups as `spec` says (see the module's doc); unchanged for
    `size` or None. Raises TrackerError in one line for a regex that does not compile,
    lacks `(?P<group>...)`, or does not match a checkpoint.

    Example:
        >>> frame = pd.DataFrame({"family": ["open-lm-c4", "open-lm-rw"], "size": ["a", "a"]})
        >>> regroup(frame, "family")["size"].tolist()
        ['open-lm-c4', 'open-lm-rw']
    """
    if spec is None or spec == DEFAULT:
        return points
    names = points["family"].astype(str) + "/" + points["size"].astype(str)
    if spec == "family":
        labels = points["family"].astype(str)
    else:
        labels = names.map(_matcher(spec))
        unmatched = names[labels.isna()]
        if not unmatched.empty:
            raise TrackerError(f"--group {spec!r} does not match checkpoint "
                               f"'{unmatched.iloc[0]}' ({unmatched.nunique()} of "
                               f"{names.nunique()} family/size names); the regex is searched "
                               "in 'family/size' and its (?P<group>...) must match every one")
    return points.assign(family=GROUPED, size=labels.astype(str).to_numpy())


def _matcher(spec: str):
    try:
        pattern = re.compile(spec)
    except re.error as error:
        raise TrackerError(f"--group {spec!r} is not a regular expression ({error}); give "
                           "'size', 'family' or a regex with (?P<group>...)") from None
    if "group" not in pattern.groupindex:
        raise TrackerError(f"--group {spec!r} has no named group; write the part that names "
                           "a group as (?P<group>...), or give 'size' or 'family'")

    def label(name: str) -> str | None:
        found = pattern.search(name)
        return None if found is None or found.group("group") is None else found.group("group")

    return label
