"""Loading transformers checkpoints for the tool's model stages (the depth teacher, the cut-out models):
device and dtype from the command's flags, and every way of failing to get or read a model's files turned
into one line that names what the model is for and the ways out."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..errors import ModelUnavailable, UserError
from ..hub import OFFLINE_WAYS, cached_only

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {value: key for key, value in DTYPES.items()}


def resolve_device(name: str) -> torch.device:
    """Turn a --device choice into a torch device, refusing ones this machine does not have."""
    mps_ok = torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": mps_ok}
    if name not in available:
        raise UserError(f"unknown device '{name}': use auto, cpu, cuda or mps")
    if not available[name]:
        raise UserError(f"device '{name}' is not available on this machine: use --device auto or cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """Pick the compute dtype; half precision only pays off (and is only well supported) on CUDA."""
    if name == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name not in DTYPES:
        raise UserError(f"unknown dtype '{name}': use auto, fp32, fp16 or bf16")
    return DTYPES[name]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def _load_error_types() -> tuple[type[BaseException], ...]:
    # Hub errors are mostly OSError subclasses (HTTP, offline, local entry missing); the remote
    # "entry not found" one is not, and bad repo ids raise HFValidationError, a ValueError.
    from huggingface_hub.errors import EntryNotFoundError

    return (OSError, ValueError, EntryNotFoundError)


def dtype_kwarg(dtype: torch.dtype) -> dict[str, torch.dtype]:
    # transformers renamed `torch_dtype` to `dtype` in 4.56; older releases only know the former.
    import transformers
    from packaging.version import Version

    key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {key: dtype}


def _weights_error_types() -> tuple[type[BaseException], ...]:
    # A damaged or truncated weights file: safetensors' own error, torch's zip reader (RuntimeError).
    from safetensors import SafetensorError

    return (SafetensorError, RuntimeError, EOFError)


def preprocessing_backend() -> str:
    """The image processor backend `pipeline("depth-estimation")` gets: torchvision where it imports, else
    PIL (transformers 5's own default), chosen here explicitly so that what is replayed is what was loaded."""
    from transformers.utils import is_torchvision_available

    return "torchvision" if is_torchvision_available() else "pil"


def backend_kwarg() -> dict[str, str]:
    # transformers 5 has two backends per image processor; earlier releases had only the PIL one here.
    import transformers
    from packaging.version import Version

    return {"backend": preprocessing_backend()} if Version(transformers.__version__) >= Version("5.0") else {}


@dataclass(frozen=True)
class ModelRole:
    """What a loaded model is for, as its error lines name it: `what` ("depth model"), the `flag` that
    chooses another, and the ways out that hold wherever a model of this role is loaded, when it cannot be
    loaded (`ways`) or downloaded (`offline_ways`). A command that loads it adds those of its own flags
    (ModelUnavailable.with_ways_out), so no command suggests another's flags."""

    what: str
    flag: str
    ways: tuple[str, ...] = ()
    offline_ways: tuple[str, ...] = OFFLINE_WAYS


def load_checked(name: str, role: ModelRole, trust_remote_code: bool, load: Callable[[dict], Any]) -> Any:
    """`load(kwargs)` (the from_pretrained calls, given their common keyword arguments), with 'cannot get
    or read the files' turned into one UserError line and a Hub that cannot be reached found out in seconds."""
    cached = cached_only(name, role.what, role.offline_ways)
    try:
        return load({"trust_remote_code": trust_remote_code, **cached})
    except _load_error_types() as error:
        if "custom code" in str(error) or "trust_remote_code" in str(error):
            raise UserError(
                f"{role.what} '{name}' needs its own code to run: pass --trust-remote-code only if "
                f"you trust that code, or choose another {role.flag}"
            ) from None
        raise ModelUnavailable(f"cannot load {role.what} '{name}' ({_first_line(error)})", role.ways) from None
    except pickle.UnpicklingError:  # torch.load(weights_only=True) refused a pickle holding more than tensors
        raise UserError(
            f"{role.what} '{name}': its weights file is a pickle that holds more than tensors, refused "
            "because unpickling it could run code; use the model saved as model.safetensors"
        ) from None
    except _weights_error_types() as error:
        raise UserError(
            f"cannot read the weights of {role.what} '{name}' ({_first_line(error)}): the file is "
            "damaged, truncated, or a pickle that may hold code; download the model again as model.safetensors"
        ) from None


def model_identity(model: str) -> dict:
    """How the manifest and card name a teacher: a Hub id as it is; a local folder by its name and the
    sha256 of its config and weights, never by its absolute path (which says nothing to a reader of the
    card and tells where the builder's files were)."""
    import hashlib
    from pathlib import Path

    folder = Path(model)
    if not folder.is_dir():
        return {"model": model}
    hashes = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and (path.suffix in (".json", ".safetensors", ".bin") or path.name.endswith(".safetensors.index.json")):
            digest = hashlib.sha256()
            with open(path, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
            hashes[path.name] = digest.hexdigest()
    return {"model": folder.resolve().name, "local_folder": True, "sha256": hashes}
