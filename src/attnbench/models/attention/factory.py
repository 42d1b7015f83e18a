"""One attention module (a score with its alignment) from config values, for any query and key size.

The sequence-to-sequence decoder builds its attention here: the query is the decoder state, the keys
the encoder states. Options a score does not take are rejected with the scores they apply to.
"""

from __future__ import annotations

import inspect
from typing import Any

from attnbench.models.attention import SCORES, Alignment, Attention

# options every score may be given; the key is the config key, the value its "not set" default
SCORE_OPTIONS: dict[str, Any] = {"use_scale": False, "score_mode": "dot"}


def accepted_options(score: str) -> set[str]:
    """Constructor arguments of the score class named ``score``."""
    return set(inspect.signature(SCORES[score]).parameters)


def make_attention(
    score: str,
    query_dim: int,
    key_dim: int,
    alignment: Alignment,
    options: dict[str, Any],
) -> Attention:
    """The score class ``score`` on ``query_dim``-sized queries and ``key_dim``-sized keys.

    ``options``: ``hidden_size``, ``max_positions``, ``use_scale``, ``score_mode``; those the class
    does not take are dropped, unless set to something other than their "off" value (then a
    ``ValueError`` names the scores they apply to).
    """
    if score not in SCORES:
        raise ValueError(f"attention.score={score!r} is not available; available: {sorted(SCORES)}")
    accepted = accepted_options(score)
    for key, off in SCORE_OPTIONS.items():
        if options.get(key, off) != off and key not in accepted:
            users = sorted(name for name in SCORES if key in accepted_options(name))
            raise ValueError(
                f"attention.{key}={options[key]!r} does not apply to attention.score={score!r}; it applies to {users}"
            )
    kwargs = {k: v for k, v in options.items() if k in accepted}
    return SCORES[score](query_dim=query_dim, key_dim=key_dim, alignment=alignment, **kwargs)
