"""Experiment specs as dicts, YAML or JSON files -> hpo.v1.Experiment, as hpo-cli reads them.

    experiment = hpo.spec.load_experiment("deploy/examples/dlrm.yaml")
    experiment = hpo.spec.experiment_from_dict({
        "name": "branin", "project": "examples",
        "search_space": {"parameters": [
            {"name": "x1", "type": "double", "bounds": {"min": -5, "max": 10}},
            {"name": "opt", "type": "categorical", "categorical_values": ["sgd", "lamb"],
             "default_value": "sgd"}]},
        "metrics": [{"name": "branin", "objective": "minimize"}],
        "observation_budget": 30})

The mapping is client/spec.h's: fields by proto name or JSON name; enums by full name
(PARAMETER_TYPE_DOUBLE), by the part after the type's prefix in any case (double, log,
minimize), or by number; a scalar where an hpo.v1.ParameterValue goes takes the type of the
enclosing message's `type` field; Timestamp and Duration take their JSON strings. Anything
unknown is a SpecError naming the field. Values are checked by the server, not here.
"""

import json
import math
import re

from google.protobuf import descriptor

from hpo.errors import SpecError
from hpo.v1 import experiment_pb2, search_space_pb2

_PARAMETER_VALUE = "hpo.v1.ParameterValue"
_WELL_KNOWN_STRINGS = ("google.protobuf.Timestamp", "google.protobuf.Duration")
_INT_TYPES = (descriptor.FieldDescriptor.TYPE_INT32, descriptor.FieldDescriptor.TYPE_INT64,
              descriptor.FieldDescriptor.TYPE_UINT32, descriptor.FieldDescriptor.TYPE_UINT64,
              descriptor.FieldDescriptor.TYPE_SINT32, descriptor.FieldDescriptor.TYPE_SINT64,
              descriptor.FieldDescriptor.TYPE_FIXED32, descriptor.FieldDescriptor.TYPE_FIXED64,
              descriptor.FieldDescriptor.TYPE_SFIXED32, descriptor.FieldDescriptor.TYPE_SFIXED64)
_FLOAT_TYPES = (descriptor.FieldDescriptor.TYPE_DOUBLE, descriptor.FieldDescriptor.TYPE_FLOAT)
_SPECIAL_FLOATS = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan,
                   "inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def load_experiment(path):
    """Reads a YAML (needs python3-yaml) or JSON spec file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if str(path).endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpecError(f"{path}:{error.lineno}: {error.msg}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise SpecError(f"{path}: reading YAML needs python3-yaml") from None
        try:
            data = yaml.load(text, Loader=_yaml_loader(yaml))
        except yaml.YAMLError as error:
            raise SpecError(f"{path}: {error}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    return experiment_from_dict(data, source=str(path))


def _yaml_loader(yaml):
    """SafeLoader with YAML 1.2's booleans (true/false only), as hpo-cli's parser reads them:
    `on`, `off`, `yes` and `no` stay strings (categorical values, for example)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                 re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


def experiment_from_dict(data, source="spec"):
    """A dict (as parsed from YAML or JSON) -> hpo.v1.Experiment."""
    experiment = experiment_pb2.Experiment()
    _Parser(source).message(data, experiment, "")
    return experiment


def _enum_prefix(type_name):
    # "ParameterType" -> "PARAMETER_TYPE": the prefix protoc style puts on value names.
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).upper()


def _short_names(enum_type):
    prefix = _enum_prefix(enum_type.name) + "_"
    return ", ".join(v.name[len(prefix):].lower() if v.name.startswith(prefix) else v.name.lower()
                     for v in enum_type.values if v.number != 0)


def _enum_value(enum_type, value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if enum_type.values_by_number.get(value) else None
    if not isinstance(value, str):
        return None
    upper = value.strip().upper().replace("-", "_")
    for name in (upper, _enum_prefix(enum_type.name) + "_" + upper):
        if name in enum_type.values_by_name:
            return enum_type.values_by_name[name].number
    return None


class _Parser:
    def __init__(self, source):
        self.source = source

    def error(self, path, reason):
        raise SpecError(f"{self.source}: {path or '(top)'}: {reason}")

    def message(self, data, message, path):
        if not isinstance(data, dict):
            self.error(path, f"expected a mapping, got {data!r}")
        fields = message.DESCRIPTOR.fields_by_name
        by_json = {f.json_name: f for f in message.DESCRIPTOR.fields}
        deferred = []
        oneofs = {}
        for key, value in data.items():
            field = fields.get(key) or by_json.get(key)
            where = f"{path}.{key}" if path else str(key)
            if field is None:
                self.error(where, f"unknown field of {message.DESCRIPTOR.full_name}")
            if value is None:
                continue  # null or empty leaves the field unset
            if field.containing_oneof is not None:
                other = oneofs.setdefault(field.containing_oneof.name, field.name)
                if other != field.name:
                    self.error(where, f"{other} and {field.name} are one of "
                                      f"{field.containing_oneof.name}: give one")
            if (field.message_type is not None and field.message_type.full_name ==
                    _PARAMETER_VALUE and not isinstance(value, dict)):
                deferred.append((field, value, where))  # needs the sibling `type`
                continue
            self.field(field, value, message, where)
        for field, value, where in deferred:
            self.parameter_value(value, self.sibling_type(message),
                                 self.target(field, message, where), where)

    def sibling_type(self, message):
        field = message.DESCRIPTOR.fields_by_name.get("type")
        if field is None or field.enum_type is None or field.enum_type.full_name != \
                "hpo.v1.ParameterType":
            return None
        return getattr(message, "type")

    def target(self, field, message, where):
        if field.label == descriptor.FieldDescriptor.LABEL_REPEATED:
            self.error(where, "expected a list")
        return getattr(message, field.name)

    def parameter_value(self, value, parameter_type, target, path):
        if isinstance(value, dict):
            self.message(value, target, path)
        elif parameter_type == search_space_pb2.PARAMETER_TYPE_DOUBLE:
            target.number_value = self.number(value, path)
        elif parameter_type == search_space_pb2.PARAMETER_TYPE_INT:
            target.int_value = self.integer(value, path)
        elif parameter_type == search_space_pb2.PARAMETER_TYPE_CATEGORICAL:
            target.string_value = str(value)
        elif isinstance(value, bool) or isinstance(value, str):
            target.string_value = str(value).lower() if isinstance(value, bool) else value
        elif isinstance(value, int):
            target.int_value = value
        elif isinstance(value, float):
            target.number_value = value
        else:
            self.error(path, f"expected a value, got {value!r}")

    def field(self, field, value, message, path):
        if field.label == descriptor.FieldDescriptor.LABEL_REPEATED:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                self.map(field, value, message, path)
                return
            if not isinstance(value, list):
                self.error(path, f"expected a list, got {value!r}")
            repeated = getattr(message, field.name)
            for i, item in enumerate(value):
                where = f"{path}[{i}]"
                if field.message_type is not None:
                    self.submessage(field, item, repeated.add(), where)
                else:
                    repeated.append(self.scalar(field, item, where))
            return
        if field.message_type is not None:
            self.submessage(field, value, getattr(message, field.name), path)
        else:
            setattr(message, field.name, self.scalar(field, value, path))

    def submessage(self, field, value, target, path):
        name = field.message_type.full_name
        if name in _WELL_KNOWN_STRINGS:
            try:
                target.FromJsonString(str(value))
            except ValueError as error:
                self.error(path, str(error))
        elif name == _PARAMETER_VALUE:
            self.parameter_value(value, None, target, path)
        else:
            self.message(value, target, path)

    def map(self, field, value, message, path):
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {value!r}")
        target = getattr(message, field.name)
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            where = f"{path}.{key}"
            if value_field.message_type is not None:
                self.submessage(value_field, item, target[str(key)], where)
            else:
                target[str(key)] = self.scalar(value_field, item, where)

    def scalar(self, field, value, path):
        if field.enum_type is not None:
            number = _enum_value(field.enum_type, value)
            if number is None:
                self.error(path, f"expected one of: {_short_names(field.enum_type)}; "
                                 f"got {value!r}")
            return number
        if field.type in _INT_TYPES:
            return self.integer(value, path)
        if field.type in _FLOAT_TYPES:
            return self.number(value, path)
        if field.type == descriptor.FieldDescriptor.TYPE_BOOL:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _BOOLS:
                return _BOOLS[value.lower()]
            self.error(path, f"expected true or false, got {value!r}")
        if field.type == descriptor.FieldDescriptor.TYPE_STRING:
            if isinstance(value, (dict, list)):
                self.error(path, f"expected a string, got {value!r}")
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)
        self.error(path, "unsupported field type")

    def number(self, value, path):
        if isinstance(value, bool):
            self.error(path, f"expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _SPECIAL_FLOATS:
                return _SPECIAL_FLOATS[text]
            try:
                return float(text)
            except ValueError:
                pass
        self.error(path, f"expected a number, got {value!r}")

    def integer(self, value, path):
        if isinstance(value, bool):
            self.error(path, f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                value = float(value.strip()) if not value.strip().lstrip("-").isdigit() \
                    else int(value.strip())
            except ValueError:
                self.error(path, f"expected an integer, got {value!r}")
            if isinstance(value, int):
                return value
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            return int(value)
        self.error(path, f"expected an integer, got {value!r}")
