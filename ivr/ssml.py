"""SSML in prompt text: Twilio's <Say> speaks the tags Amazon Polly voices
know (<break>, <say-as>, <emphasis>, <prosody>, <phoneme>, <sub>, ...).

Prompt text is parsed into plain strings and elements, checked (well formed,
known tags and attributes), and written into twilio's builder as elements,
never as escaped text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from twilio.twiml import GenericNode

from .simulator.engine import WORDS_PER_SECOND

#
# Prompt text may carry the SSML tags Twilio's <Say> supports (with Amazon
# Polly voices). Text outside tags is plain text: "&" is written as it is.

AMAZON_NS = "https://amazon.com/ssml"
XML_NS = "http://www.w3.org/XML/1998/namespace"

# tag -> (allowed attributes, required attributes)
SSML_TAGS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "break": (frozenset({"strength", "time"}), frozenset()),
    "emphasis": (frozenset({"level"}), frozenset()),
    "lang": (frozenset({"xml:lang"}), frozenset({"xml:lang"})),
    "p": (frozenset(), frozenset()),
    "phoneme": (frozenset({"alphabet", "ph"}), frozenset({"ph"})),
    "prosody": (frozenset({"volume", "rate", "pitch"}), frozenset()),
    "s": (frozenset(), frozenset()),
    "say-as": (frozenset({"interpret-as", "format"}), frozenset({"interpret-as"})),
    "sub": (frozenset({"alias"}), frozenset({"alias"})),
    "w": (frozenset({"role"}), frozenset()),
    "amazon:effect": (frozenset({"name", "phonation", "vocal-tract-length"}), frozenset()),
    "amazon:domain": (frozenset({"name"}), frozenset({"name"})),
}
BREAK_STRENGTH_SECONDS = {
    "none": 0.0,
    "x-weak": 0.1,
    "weak": 0.25,
    "medium": 0.5,
    "strong": 0.75,
    "x-strong": 1.0,
}
_BREAK_TIME = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
_TAG_LIKE = re.compile(r"<\s*/?\s*[A-Za-z]")
# A bare "&" in prompt text is an ampersand; only &lt; and &gt; (from `literal`) are entities.
_AMPERSAND = re.compile(r"&(?!(?:lt|gt);)")


class SsmlError(ValueError):
    pass


@dataclass(frozen=True)
class SsmlElement:
    tag: str
    attrs: tuple[tuple[str, str], ...] = ()
    children: tuple[SsmlNode, ...] = ()


SsmlNode = str | SsmlElement


def has_ssml(text: str) -> bool:
    return bool(_TAG_LIKE.search(text))


def literal(text: str) -> str:
    """Text to be said as it is where prompt text may hold SSML (a caller's
    words filled into a prompt): its "<" and ">" can never open a tag."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo `literal` in text said without parsing it as SSML."""
    return text.replace("&lt;", "<").replace("&gt;", ">")


def ssml_nodes(text: str) -> list[SsmlNode]:
    """The text as plain strings and SSML elements. Raises SsmlError when a
    tag is malformed, unknown, or has attributes <Say> does not accept."""
    escaped = _AMPERSAND.sub("&amp;", text)
    source = f'<speak xmlns:amazon="{AMAZON_NS}">{escaped}</speak>'
    try:
        root = ET.fromstring(source)
    except ET.ParseError as exc:
        raise SsmlError(f"invalid SSML: {_parse_message(exc)}") from None
    return _children(root)


def _parse_message(exc: ET.ParseError) -> str:
    message = str(exc).split(":", 1)[0]
    if "unbound prefix" in message:
        return "unknown tag prefix (only amazon: is known)"
    if "mismatched tag" in message:
        return "a tag is closed that was not opened, or not closed (write <break/> for a pause)"
    if "not well-formed" in message:
        return "not well-formed (a stray '<'? write 'less than' instead)"
    return message


def _tag_name(tag: str) -> str:
    if tag.startswith("{" + AMAZON_NS + "}"):
        return "amazon:" + tag.split("}", 1)[1]
    return tag


def _attr_name(name: str) -> str:
    if name.startswith("{" + XML_NS + "}"):
        return "xml:" + name.split("}", 1)[1]
    return name


def _children(element: ET.Element) -> list[SsmlNode]:
    nodes: list[SsmlNode] = []
    if element.text:
        nodes.append(element.text)
    for child in element:
        nodes.append(_element(child))
        if child.tail:
            nodes.append(child.tail)
    return nodes


def _element(element: ET.Element) -> SsmlElement:
    tag = _tag_name(element.tag)
    if tag not in SSML_TAGS:
        known = ", ".join(f"<{t}>" for t in SSML_TAGS)
        raise SsmlError(f"invalid SSML: unknown tag <{tag}> (known: {known})")
    allowed, required = SSML_TAGS[tag]
    attrs = {_attr_name(k): v for k, v in element.attrib.items()}
    unknown = sorted(set(attrs) - allowed)
    if unknown:
        raise SsmlError(f"invalid SSML: <{tag}> has no attribute {unknown[0]!r}")
    missing = sorted(required - set(attrs))
    if missing:
        raise SsmlError(f"invalid SSML: <{tag}> needs the attribute {missing[0]!r}")
    if tag == "break":
        if "time" in attrs and not _BREAK_TIME.match(attrs["time"]):
            raise SsmlError(
                f'invalid SSML: <break time="{attrs["time"]}"> must be like "500ms" or "1s"'
            )
        if "strength" in attrs and attrs["strength"] not in BREAK_STRENGTH_SECONDS:
            raise SsmlError(
                f"invalid SSML: <break strength> is one of {', '.join(BREAK_STRENGTH_SECONDS)}"
            )
        if len(element) or (element.text or "").strip():
            raise SsmlError("invalid SSML: <break/> holds no text")
    return SsmlElement(tag, tuple(attrs.items()), tuple(_children(element)))


def add_ssml(verb: Any, nodes: Iterable[SsmlNode]) -> None:
    """Append nodes to a twilio builder element (a Say or an SSML child)."""
    for node in nodes:
        if isinstance(node, str):
            verb.nest(node)
        else:
            child = GenericNode(node.tag, None)
            # Set directly: the builder's keyword arguments would clash with
            # "name" (<amazon:effect name=...>) and rename hyphenated ones.
            child.attrs = dict(node.attrs)
            add_ssml(verb.nest(child), node.children)


def say(verb: Any, text: str, **attrs: Any) -> None:
    """<Say> the text, its SSML tags as tags. Text whose tags do not parse
    (a value filled in with a stray '<') is said as plain text."""
    if has_ssml(text):
        try:
            nodes = ssml_nodes(text)
        except SsmlError:
            verb.say(unescape(text), **attrs)
            return
        add_ssml(verb.say(**attrs), nodes)
        return
    verb.say(unescape(text), **attrs)


def plain_text(text: str) -> str:
    """What is heard, without the tags (for the duration and for espeak-ng)."""
    try:
        nodes = ssml_nodes(text) if has_ssml(text) else [unescape(text)]
    except SsmlError:
        return unescape(text)
    return " ".join("".join(_plain(n) for n in nodes).split())


def _plain(node: SsmlNode) -> str:
    if isinstance(node, str):
        return node
    attrs = dict(node.attrs)
    if node.tag == "sub":
        return f" {attrs['alias']} "
    if node.tag == "break":
        return " "
    return "".join(_plain(n) for n in node.children)


def estimated_seconds(text: str) -> float:
    """How long the line takes to say it: words at the simulator's pace, plus pauses."""
    pauses = 0.0
    if has_ssml(text):
        try:
            pauses = sum(_pauses(n) for n in ssml_nodes(text))
        except SsmlError:
            pauses = 0.0
    words = len(plain_text(text).split())
    return round(words / WORDS_PER_SECOND + pauses, 1)


def _pauses(node: SsmlNode) -> float:
    if isinstance(node, str):
        return 0.0
    if node.tag == "break":
        attrs = dict(node.attrs)
        match = _BREAK_TIME.match(attrs.get("time", ""))
        if match:
            value = float(match.group(1))
            return value / 1000 if match.group(2) == "ms" else value
        return BREAK_STRENGTH_SECONDS.get(attrs.get("strength", "medium"), 0.5)
    return sum(_pauses(n) for n in node.children)
