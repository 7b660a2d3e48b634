"""Strings the browser modules show, as catalog msgids (rendered translated into each page)."""

from __future__ import annotations

import json
from gettext import NullTranslations

from markupsafe import Markup

from sessions import labels
from sessions.errors import N_
from signaling import protocol

JS_STRINGS = {
    "camera": N_("Camera"),
    "microphone": N_("Microphone"),
    "speaker": N_("Speaker"),
    "you": N_("you"),
    "mute": N_("Mute"),
    "give_floor": N_("Give the floor"),
    "send_back": N_("Back to waiting room"),
    "remove": N_("Remove"),
    "admit": N_("Admit"),
    "confirm_end": N_("End the meeting for everyone?"),
    "confirm_remove": N_("Remove this participant from the meeting?"),
    "mute_mic": N_("Mute microphone"),
    "unmute_mic": N_("Unmute microphone"),
    "camera_off": N_("Turn camera off"),
    "camera_on": N_("Turn camera on"),
    "audio_only": N_("Audio only"),
    "video_on": N_("Send video again"),
    "raise_hand": N_("Raise hand"),
    "lower_hand": N_("Lower hand"),
    "badge_muted": N_("microphone off"),
    "badge_muted_by_chair": N_("muted by the chair"),
    "badge_no_video": N_("no video"),
    "badge_weak_link": N_("weak link: sound only"),
    "badge_hand": N_("hand raised"),
    "badge_floor": N_("has the floor"),
    "badge_reconnecting": N_("reconnecting…"),
    "muted_by_chair": N_("The chair muted your microphone. Raise your hand to ask for the floor."),
    "recording": N_("Recording"),
    "recording_paused": N_("Recording paused"),
    "recording_start": N_("Start recording"),
    "recording_pause": N_("Pause recording"),
    "recording_resume": N_("Resume recording"),
    "quality_good": N_("good link"),
    "quality_fair": N_("fair link"),
    "quality_poor": N_("poor link"),
    "testing": N_("Testing the connection…"),
    "test_failed": N_("The test call failed. Check the network and try again."),
    "verdict_good": N_("Good"),
    "verdict_fair": N_("Acceptable"),
    "verdict_poor": N_("Poor"),
    "rtt": N_("round trip"),
    "loss": N_("loss"),
    "bitrate": N_("bitrate"),
    "problem_no_camera": N_(
        "No camera was found. You will take part with sound only; others will hear you."
    ),
    "problem_camera_denied": N_(
        "The browser was not allowed to use the camera. You will take part with sound only; "
        "allow the camera in the browser settings to be seen."
    ),
    "problem_no_devices": N_(
        "No microphone or camera could be used. You can still watch and listen."
    ),
    "ended_ended": N_("The meeting has ended. Thank you."),
    "ended_removed": N_("The chair removed you from the meeting."),
    "ended_refused": N_("You could not join this meeting. The join link may have expired."),
    "ended_closed": N_("You left the meeting."),
}


MINUTES_STRINGS = {
    "m_who": N_("Who"),
    "m_said": N_("What was said"),
    "m_now": N_("Now"),
    "m_now_title": N_("Mark the recording time: now"),
    "m_at": N_("at %(t)s in the recording"),
    "m_remove": N_("Delete the opinion"),
    "m_role": N_("Role"),
    "m_reason": N_("Reason for not signing"),
    "m_pending": N_("not yet signed"),
    "m_signed": N_("signed"),
    "m_fingerprint": N_("fingerprint"),
    "m_refused": N_("refused to sign"),
    "m_saving": N_("Saving…"),
    "m_saved": N_("Saved · version %(n)s"),
    "m_unsaved": N_("Not saved yet: kept in this browser, trying again…"),
    "m_restored": N_("Your unsaved changes from before were restored."),
    "m_updated": N_("Updated by another editor · version %(n)s"),
    "m_theirs": N_("Saved meanwhile"),
    "m_mine": N_("Yours"),
    "m_keep_mine": N_("Keep mine"),
    "m_take_theirs": N_("Take theirs"),
    "m_read_only": N_("Read only"),
    "m_version": N_("Version %(n)s"),
}


def translated(translations: NullTranslations) -> dict[str, str]:
    """The browser's strings; ``error:<id>`` for each protocol error, ``label:<msgid>`` for each
    role label the server may give a participant (a person's own position is shown as typed)."""
    out = {
        key: translations.gettext(message)
        for key, message in {**JS_STRINGS, **MINUTES_STRINGS}.items()
    }
    out.update(
        {f"error:{key}": translations.gettext(message) for key, message in protocol.ERRORS.items()}
    )
    out.update({f"label:{text}": translations.gettext(text) for text in labels.ROLE_LABELS})
    return out


def strings_json(translations: NullTranslations, locale: str) -> Markup:
    """The browser's strings, safe inside <script type="application/json">."""
    data = translated(translations)
    data["locale"] = locale
    # JSON with "<" escaped cannot close the script element it is placed in.
    return Markup(json.dumps(data, ensure_ascii=False).replace("<", "\\u003c"))
