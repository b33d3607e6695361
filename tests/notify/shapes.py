"""The providers' documented payload shapes as JSON Schemas, for checking what was received. Test helper.

- Slack: incoming webhooks with legacy secondary attachments (api.slack.com/reference/messaging/attachments):
  the attachment fields Slack lists, ``color`` a hex code or good/warning/danger, ``fields`` of
  ``title``/``value``/``short``, ``ts`` an epoch number, ``mrkdwn_in`` among pretext/text/fields.
- Microsoft Teams: the Workflows webhook's ``message`` with one Adaptive Card attachment
  (``application/vnd.microsoft.card.adaptive``), card schema 1.4: TextBlock (``text``), FactSet
  (``facts`` of ``title``/``value``), Action.OpenUrl (``url``), colours among the card's names.
- Discord: the Execute Webhook body (discord.com/developers/docs/resources/webhook): ``username``
  at most 80, at most 10 embeds; an embed's title 256, description 4096, at most 25 fields of
  name 256 / value 1024, footer text 2048, ``color`` an integer, ``timestamp`` ISO 8601; the
  characters of an embed's texts at most 6000 in all.
"""

from __future__ import annotations

from typing import Any

import jsonschema

SLACK_COLOUR = {"type": "string", "pattern": "^(good|warning|danger|#[0-9a-fA-F]{6})$"}
SLACK: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "attachments": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["fallback"],
                "properties": {
                    "fallback": {"type": "string", "minLength": 1},
                    "color": SLACK_COLOUR,
                    "pretext": {"type": "string"},
                    "author_name": {"type": "string"},
                    "author_link": {"type": "string"},
                    "author_icon": {"type": "string"},
                    "title": {"type": "string"},
                    "title_link": {"type": "string", "pattern": "^https?://"},
                    "text": {"type": "string"},
                    "fields": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["title", "value"],
                            "properties": {
                                "title": {"type": "string"},
                                "value": {"type": "string"},
                                "short": {"type": "boolean"},
                            },
                        },
                    },
                    "image_url": {"type": "string"},
                    "thumb_url": {"type": "string"},
                    "footer": {"type": "string", "maxLength": 300},
                    "footer_icon": {"type": "string"},
                    "ts": {"type": "integer"},
                    "mrkdwn_in": {"type": "array", "items": {"enum": ["pretext", "text", "fields"]}},
                },
            },
        },
    },
}

_CARD_ELEMENT = {
    "type": "object",
    "required": ["type"],
    "oneOf": [
        {"properties": {"type": {"const": "TextBlock"}, "text": {"type": "string", "minLength": 1},
                        "color": {"enum": ["Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"]},
                        "weight": {"enum": ["Default", "Lighter", "Bolder"]},
                        "size": {"enum": ["Default", "Small", "Medium", "Large", "ExtraLarge"]},
                        "wrap": {"type": "boolean"}},
         "required": ["text"]},
        {"properties": {"type": {"const": "FactSet"},
                        "facts": {"type": "array", "items": {"type": "object", "required": ["title", "value"],
                                                             "additionalProperties": False,
                                                             "properties": {"title": {"type": "string"},
                                                                            "value": {"type": "string"}}}}},
         "required": ["facts"]},
    ],
}  # fmt: skip
TEAMS: dict[str, Any] = {
    "type": "object",
    "required": ["type", "attachments"],
    "properties": {
        "type": {"const": "message"},
        "attachments": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["contentType", "content"],
                "properties": {
                    "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
                    "content": {
                        "type": "object",
                        "required": ["type", "version", "body"],
                        "properties": {
                            "type": {"const": "AdaptiveCard"},
                            "version": {"enum": ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"]},
                            "body": {"type": "array", "items": _CARD_ELEMENT},
                            "actions": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["type", "url"],
                                    "properties": {
                                        "type": {"const": "Action.OpenUrl"},
                                        "url": {"type": "string", "pattern": "^https?://"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

ISO_8601 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"
DISCORD: dict[str, Any] = {
    "type": "object",
    "anyOf": [{"required": ["content"]}, {"required": ["embeds"]}],
    "properties": {
        "content": {"type": "string", "maxLength": 2000},
        "username": {"type": "string", "minLength": 1, "maxLength": 80},
        "allowed_mentions": {"type": "object", "properties": {"parse": {"type": "array"}}},
        "embeds": {
            "type": "array",
            "maxItems": 10,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "title": {"type": "string", "maxLength": 256},
                    "description": {"type": "string", "maxLength": 4096},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "timestamp": {"type": "string", "pattern": ISO_8601},
                    "color": {"type": "integer", "minimum": 0, "maximum": 0xFFFFFF},
                    "footer": {
                        "type": "object",
                        "required": ["text"],
                        "properties": {"text": {"type": "string", "maxLength": 2048}},
                    },
                    "fields": {
                        "type": "array",
                        "maxItems": 25,
                        "items": {
                            "type": "object",
                            "required": ["name", "value"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1, "maxLength": 256},
                                "value": {"type": "string", "minLength": 1, "maxLength": 1024},
                                "inline": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
    },
}


def check_slack(payload: Any) -> None:
    jsonschema.validate(payload, SLACK)


def check_teams(payload: Any) -> None:
    jsonschema.validate(payload, TEAMS)


def check_discord(payload: Any) -> None:
    jsonschema.validate(payload, DISCORD)
    for embed in payload.get("embeds", []):
        texts = [embed.get("title", ""), embed.get("description", ""), embed.get("footer", {}).get("text", "")]
        texts += [f["name"] + f["value"] for f in embed.get("fields", [])]
        assert sum(len(t) for t in texts) <= 6000, "an embed's texts exceed 6000 characters"
