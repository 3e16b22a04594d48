"""Offline speech recognition of the customer's confirmation: CMU PocketSphinx.

A ``Recogniser`` turns one utterance (16 kHz mono) into text, given the phrases it
expects. ``PocketSphinx`` searches a JSGF grammar of exactly those phrases (the step's
confirmation and the language's refusals) when the model's dictionary holds all their
words, and its language model otherwise; speech that fits none of the grammar's
phrases comes back as no text.

Why a grammar, measured on espeak-ng speech at 175 words a minute, resampled from
48 kHz as the recordings are (wealth_purchase's "I have read and understood the
risks"; per voice 13 utterances: the phrase, the phrase after "Yes", a shortened
phrase, four refusals, four unrelated sentences, 10 s and 60 s of the disclosure read
by the customer; and silence), with the en-us model the pocketsphinx wheel ships:

- the general language model (en-us.lm.bin) recognised none of them usefully ("he the
  total receipts" for the phrase), at 25 s of CPU a minute: unusable for matching;
- a keyphrase search (thresholds 1e-10 to 1e-30) never spotted the seven-word phrase
  and took an unrelated question for "no";
- a grammar with a garbage loop of 25 common words took every phrase for garbage;
- the grammar of the phrase and the refusals alone, with espeak-ng's ``en-us`` voice,
  gave 13 of 13 right (the phrase twice; "no" twice, "I refuse", "I don't agree"; no
  text for the rest and silence) once two of its habits are refused: with no phrase
  fitting it ends on a partial path ("i"), and it stretches a short phrase over long
  unrelated speech ("no" over 4 % of a sentence, "I don't agree" over 3 % of 60 s,
  where a true "no" takes 13 % or more): a hypothesis is believed only when it is one
  of the phrases and its words last ``MIN_COVER`` of the utterance. The utterance
  must keep some silence around it (``spoken.SpeechLimits.pad_ms``): cut at its
  sound, 2 of 10 more short sentences ("Yes.", "I would like to open a savings
  account") were taken for the phrase's start or "I don't agree". With espeak-ng's
  British ``en`` voice the phrase came back as "I don't agree" (a false refusal) and
  two refusals as no text: the model is US English, and so should the customer's
  synthetic voice be.

It costs 0.7 s of CPU per minute of speech searched (1.4 s for one 60 s utterance),
and 0.3 s to load the model, once a part.
The model of a language is a folder: the acoustic model (the folder holding ``mdef``,
or the folder itself), one pronunciation dictionary (``*.dict`` or ``*.dic``) and,
optionally, one language model (``*.lm.bin``, ``*.lm`` or ``*.lm.dmp``). The wheel's
en-us folder is the default for English; Mandarin has none unless one is configured.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import av
import numpy as np
import pocketsphinx
from numpy.typing import NDArray

from common import Language

from .verdicts import Model

#: The sample rate the recogniser takes.
RATE = 16_000
VERSION = f"pocketsphinx {importlib.metadata.version('pocketsphinx')}"
_HAN = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_LM_SUFFIXES = (".lm.bin", ".lm", ".lm.dmp")
#: A grammar's phrase is believed only when its words last this share of the utterance.
MIN_COVER = 0.08


class Recogniser(Protocol):
    """Speech to text, offline."""

    @property
    def model(self) -> Model:
        """What recognises (name, version, licence), for the report."""
        ...

    def recognise(self, samples: NDArray[np.int16], expected: Sequence[str]) -> str:
        """The text of one utterance (``RATE`` Hz mono); "" when nothing fits."""
        ...


def packaged_model() -> Path:
    """The US English model folder the pocketsphinx wheel ships."""
    return Path(pocketsphinx.get_model_path()) / "en-us"


def _one(folder: Path, suffixes: tuple[str, ...], what: str, *, needed: bool) -> Path | None:
    found = sorted(
        p
        for p in folder.iterdir()
        if p.name.lower().endswith(suffixes) and "phone" not in p.name.lower()
    )
    if len(found) > 1 or (needed and not found):
        raise ValueError(f"the speech model folder {folder} holds {len(found)} {what}, not one")
    return found[0] if found else None


def _acoustic(folder: Path) -> Path:
    if (folder / "mdef").is_file():
        return folder
    inside = [p for p in sorted(folder.iterdir()) if (p / "mdef").is_file()]
    if len(inside) != 1:
        raise ValueError(f"the speech model folder {folder} holds no one acoustic model (mdef)")
    return inside[0]


def model_files(folder: Path) -> tuple[Path, Path, Path | None]:
    """A model folder's acoustic model, dictionary and language model (None if none);
    ValueError naming what is missing or doubled."""
    if not folder.is_dir():
        raise ValueError(f"the speech model folder {folder} does not exist")
    dictionary = _one(folder, (".dict", ".dic"), "dictionaries", needed=True)
    assert dictionary is not None
    return (
        _acoustic(folder),
        dictionary,
        _one(folder, _LM_SUFFIXES, "language models", needed=False),
    )


def words_of(text: str, language: str) -> list[str]:
    """A phrase as the dictionary's words: Chinese character by character, else words."""
    if language == Language.ZH_CN.value:
        return _HAN.findall(text)
    return _WORD.findall(text.lower().replace("’", "'"))


class PocketSphinx:
    """A PocketSphinx decoder over one model folder (loaded once, ~0.4 s)."""

    def __init__(self, folder: Path, language: str, *, name: str, licence: str = "") -> None:
        acoustic, dictionary, self._lm = model_files(folder)
        self.language = language
        self.model = Model(name, VERSION, licence)
        self._decoder = pocketsphinx.Decoder(
            hmm=str(acoustic),
            dict=str(dictionary),
            lm=None,
            samprate=RATE,
            loglevel="FATAL",
        )
        if self._lm is not None:
            self._decoder.add_lm_file("lm", str(self._lm))

    def _known(self, text: str) -> list[str] | None:
        words = words_of(text, self.language)
        if not words or any(self._decoder.lookup_word(w) is None for w in words):
            return None
        return words

    def _grammar(self, expected: Sequence[str]) -> list[str]:
        """Set the grammar of the expected phrases the dictionary knows (the first, the
        step's phrase, among them); the phrases as word strings, or [] for none."""
        if self._known(expected[0]) is None:
            return []
        phrases = [" ".join(words) for text in expected if (words := self._known(text))]
        rules = " | ".join(f"( {words} )" for words in phrases)
        grammar = f"#JSGF V1.0;\ngrammar expected;\npublic <said> = {rules} ;\n"
        self._decoder.add_jsgf_string("expected", grammar)
        return phrases

    def _decode(self, search: str, samples: NDArray[np.int16]) -> str:
        self._decoder.activate_search(search)
        self._decoder.start_utt()
        self._decoder.process_raw(samples.tobytes(), full_utt=True)
        self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        return "" if hypothesis is None else " ".join(str(hypothesis.hypstr).split())

    def _cover(self) -> float:
        """The share of the utterance's frames the last hypothesis's words take."""
        words = [s for s in self._decoder.seg() or [] if not s.word.startswith(("<", "[", "+"))]
        frames = sum(int(s.end_frame) - int(s.start_frame) + 1 for s in words)
        return frames / max(1, int(self._decoder.n_frames()))

    def recognise(self, samples: NDArray[np.int16], expected: Sequence[str]) -> str:
        """The utterance's text ("" when it fits no expected phrase, or none is known)."""
        if samples.size == 0 or not expected:
            return ""
        phrases = self._grammar(expected)
        if phrases:
            # The grammar's search ends on its best partial path when no phrase fits, and
            # stretches a short phrase over long unrelated speech: neither is believed.
            text = self._decode("expected", samples)
            return text if text in phrases and self._cover() >= MIN_COVER else ""
        if self._lm is None:
            return ""
        text = self._decode("lm", samples)
        return "".join(text.split()) if self.language == Language.ZH_CN.value else text


def recogniser_for(language: str, models: Mapping[str, Path]) -> PocketSphinx | None:
    """The recogniser of a language: its configured model folder, the wheel's for English,
    or None (no model: the confirmation is not judged)."""
    folder = models.get(language)
    if folder is not None:
        return PocketSphinx(folder, language, name=f"pocketsphinx-{language}:{folder.name}")
    if language == Language.EN.value:
        return PocketSphinx(
            packaged_model(), language, name="pocketsphinx-en-us", licence="BSD-2-Clause"
        )
    return None


def to_recogniser_rate(samples: NDArray[np.float32], rate: int) -> NDArray[np.int16]:
    """Mono float samples (-1 to 1) at ``rate`` resampled to ``RATE`` Hz 16-bit."""
    if samples.size == 0:
        return np.zeros(0, np.int16)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    out = [*resampler.resample(frame), *resampler.resample(None)]
    if not out:
        return np.zeros(0, np.int16)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in out]).astype(np.int16)
