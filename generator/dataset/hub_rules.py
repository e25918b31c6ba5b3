"""What the Hub accepts in a dataset card's YAML header, checked before anything is pushed.

huggingface_hub ships DatasetCard / DatasetCardData (parsing) but not the Hub's lists of task ids and
license ids; datasets ships the size categories. The task and license ids below are the Hub's
(huggingface.js `PIPELINE_DATA` task ids; https://huggingface.co/docs/hub/repositories-licenses).
"""

from __future__ import annotations

import json
from importlib.resources import files

HUB_TASK_CATEGORIES = frozenset("""
text-classification token-classification table-question-answering question-answering zero-shot-classification
translation summarization feature-extraction text-generation fill-mask sentence-similarity text-to-speech
text-to-audio automatic-speech-recognition audio-to-audio audio-classification audio-text-to-text
voice-activity-detection depth-estimation image-classification object-detection image-segmentation
text-to-image image-to-text image-to-image image-to-video unconditional-image-generation video-classification
reinforcement-learning robotics tabular-classification tabular-regression tabular-to-text table-to-text
multiple-choice text-ranking text-retrieval time-series-forecasting text-to-video image-text-to-text
image-text-to-image image-text-to-video visual-question-answering document-question-answering
zero-shot-image-classification graph-ml mask-generation zero-shot-object-detection text-to-3d image-to-3d
image-feature-extraction video-text-to-text keypoint-detection visual-document-retrieval any-to-any
video-to-video other
""".split())

HUB_LICENSES = (
    "apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 "
    "bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc "
    "cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 "
    "cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 "
    "cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 "
    "eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c "
    "ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib "
    "pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma unknown other"
).split()


def size_categories() -> list[str]:
    return json.loads(files("datasets.utils.resources").joinpath("size_categories.json").read_text())


def card_problems(text: str) -> list[str]:
    """Everything the Hub (or `load_dataset`) would reject or misread in a card; empty when it is fine."""
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    try:
        data = DatasetCard(text).data
    except Exception as error:  # noqa: BLE001 - whatever the parser raises is the problem
        return [f"the YAML header does not parse: {error}"]
    problems = []
    as_dict = data.to_dict()
    license = as_dict.get("license")
    for value in license if isinstance(license, list) else [license]:
        if value not in HUB_LICENSES:
            problems.append(f"license {value!r} is not a Hub license id")
    if "other" in (license if isinstance(license, list) else [license]) and not (as_dict.get("license_name") and as_dict.get("license_link")):
        problems.append("license 'other' needs license_name and license_link")
    tasks = as_dict.get("task_categories") or []
    problems += [f"task category {t!r} is not a Hub task id" for t in tasks if t not in HUB_TASK_CATEGORIES]
    if not tasks:
        problems.append("no task_categories")
    sizes = size_categories()
    problems += [f"size category {s!r} is not one of {sizes}" for s in as_dict.get("size_categories") or [] if s not in sizes]
    if not as_dict.get("size_categories"):
        problems.append("no size_categories")
    try:
        configs = MetadataConfigs.from_dataset_card_data(data)
        infos = DatasetInfosDict.from_dataset_card_data(data)
    except Exception as error:  # noqa: BLE001
        return problems + [f"configs / dataset_info do not load in datasets: {error}"]
    if not configs:
        problems.append("no configs")
    missing = set(configs) - set(infos)
    problems += [f"config {name!r} has no dataset_info" for name in sorted(missing)]
    for name, info in infos.items():
        if info.features is None or not info.splits:
            problems.append(f"dataset_info of {name!r} lacks features or splits")
    return problems
