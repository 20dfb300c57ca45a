"""What aws_sagemaker.invoke_endpoint answers for a deployment: its endpoint output.

A SageMaker endpoint answers what its model was built to: a classifier its class label
(Aurora's page casts it `::INT`), a regressor its estimate, a model of several outputs
those outputs comma-separated (cast to a composite type). A churn model deployed in
churnml has three answers to give, chosen per deployment name
(`churnml.set_endpoint_output`, stored in `churnml.deployments.endpoint_output`):

- `probability`: the churn probability (the default, what invoke_endpoint always answered);
- `label`: 1 when the probability is above the deployment's cutoff, else 0 (churn_flag's rule);
- `threshold`: the deployment's cutoff.

One output is answered as its value (`0.93`, `1`), several as a record literal in the
order asked (`(0.93,1)`): PostgreSQL's cast of text to a composite type reads exactly
that, and so does the cast to `point` for a pair.
"""

from __future__ import annotations

from churnml.errors import InvalidParameter, NullValueNotAllowed

OUTPUTS = ("probability", "label", "threshold")
DEFAULT = "probability"
_HINT = ("Pass 'probability' (the default), 'label' (1 above the cutoff, else 0) or 'threshold', or several "
         "comma-separated, e.g. 'probability,label'.")


def parse(output: str | None) -> str:
    """The stored form of an output setting ('probability, Label' -> 'probability,label'), or 22004/22023."""
    if output is None:
        raise NullValueNotAllowed("output must not be NULL", hint=_HINT)
    names = [part.strip().lower() for part in output.split(",")]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        shown = unknown[0] if len(unknown[0]) <= 40 else unknown[0][:39] + "…"
        raise InvalidParameter(f'unknown endpoint output "{shown}"' if shown else "an endpoint output is empty",
                               detail="Endpoint outputs: " + ", ".join(OUTPUTS) + ".", hint=_HINT)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidParameter(f'the endpoint output "{repeated[0]}" is named twice', hint=_HINT)
    return ",".join(names)


def fields(stored: str | None) -> tuple[str, ...]:
    """The outputs of a stored setting, in order (NULL, from a row written before 0.3.0's column, is the default)."""
    return tuple((stored or DEFAULT).split(","))


def answer(outputs: tuple[str, ...], probability: float, threshold: float) -> str:
    """invoke_endpoint's text: one value, or several as a record literal."""
    values = [_value(name, probability, threshold) for name in outputs]
    return values[0] if len(values) == 1 else "(" + ",".join(values) + ")"


def _value(name: str, probability: float, threshold: float) -> str:
    if name == "label":
        return "1" if probability > threshold else "0"
    # repr: the shortest text that reads back as the same float8 (Aurora's CSV keeps SageMaker's digits)
    return repr(probability if name == "probability" else threshold)
