"""One corpus of hostile text, shared by every terminal-safety test.

Each payload is something a model, a hostile or broken server, or an old conversation
title can contain. Every one carries a readable ``marker`` word that must still be shown
after sanitising (the text stays readable), and a list of ``forbidden`` substrings that
must never reach a terminal or a widget (the live part of the attack).

Thinkpane's policy (README "Terminal safety"): escape sequences (CSI, OSC, DCS, SOS, PM,
APC, and the short ones such as ``ESC 7`` or ``ESC ( B``) are removed whole, then every
remaining C0/C1 control character except newline and tab; bidirectional
embedding/override/isolate controls (U+202A-U+202E, U+2066-U+2069) are removed; Rich/Textual
markup is never interpreted, so ``[bold]`` shows as the text ``[bold]``. Each payload's
``shown`` is the exact text that is left: shown live, stored, shown again when reopened,
exported. ``ask --json`` keeps the exact raw text as JSON data (escaped, ASCII-only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ESC, BEL, CSI8, ST8, OSC8 = "\x1b", "\x07", "\x9b", "\x9c", "\x9d"
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Nothing that can start or end a terminal sequence may survive sanitising.
TERMINAL_CONTROLS = [ESC, BEL, CSI8, ST8, OSC8, "\x90", "\x98", "\x9e", "\x9f", "\r", "\x00", "\x7f", "\x85"]


@dataclass(frozen=True)
class Payload:
    name: str
    text: str
    marker: str  # readable text that must survive
    forbidden: tuple[str, ...] = ()  # must not survive (besides TERMINAL_CONTROLS)
    literal: tuple[str, ...] = ()  # markup that must be shown as literal text in the TUI
    shown: str = field(kw_only=True)  # exactly what is left after sanitising: shown, stored, exported


PAYLOADS: list[Payload] = [
    Payload("osc_title", f"{ESC}]0;pwned-title{BEL}TITLEOK", "TITLEOK", ("pwned-title",), shown="TITLEOK"),
    Payload("osc_title_st", f"{ESC}]2;pwned-title{ESC}\\TITLEST", "TITLEST", ("pwned-title",), shown="TITLEST"),
    Payload("osc52_clipboard", f"{ESC}]52;c;cm0gLXJmIH4vCg=={BEL}CLIPOK", "CLIPOK", ("cm0gLXJmIH4vCg==",),
            shown="CLIPOK"),
    Payload("clear_screen", f"{ESC}[2J{ESC}[HCLEAROK{ESC}[3J", "CLEAROK", ("[2J", "[3J"), shown="CLEAROK"),
    Payload("osc8_hyperlink", f"{ESC}]8;;http://evil.example/x{ESC}\\LINKOK{ESC}]8;;{ESC}\\", "LINKOK",
            ("evil.example",), shown="LINKOK"),
    Payload("sgr_colours", f"{ESC}[31;1;5mREDOK{ESC}[0m", "REDOK", ("[31;1;5m",), shown="REDOK"),
    Payload("cursor_moves", f"MOVE{ESC}[10A{ESC}[999;999H{ESC}7{ESC}8OK", "MOVEOK", ("[10A", "[999;999H"),
            shown="MOVEOK"),
    Payload("dcs_query", f"{ESC}P$q\"p{ESC}\\DCSOK", "DCSOK", ('$q"p',), shown="DCSOK"),
    Payload("c1_csi", f"{CSI8}2JC1OK{CSI8}31m", "C1OK", ("2JC1OK",), shown="C1OK"),
    Payload("c1_osc", f"{OSC8}0;pwned-c1{ST8}C1OSCOK", "C1OSCOK", ("pwned-c1",), shown="C1OSCOK"),
    Payload("c0_controls", "C0\x00\x01\x02\x08\x0b\x0c\x0e\x1a\x7fOK\rBELL\x07", "C0", (), shown="C0OKBELL"),
    Payload("bidi_override", "file\u202etxt.exe\u202c BIDIOK \u2066iso\u2069", "BIDIOK", ("\u202e", "\u2066"),
            shown="filetxt.exe BIDIOK iso"),
    Payload("rich_markup", "[bold red]MARKUP[/] [link=http://markup.example]x[/link] [@click=app.quit]q[/]",
            "MARKUP", (), ("[bold red]MARKUP[/]", "[@click=app.quit]"),
            shown="[bold red]MARKUP[/] [link=http://markup.example]x[/link] [@click=app.quit]q[/]"),
    Payload("textual_markup", "[$accent]VAR[/] [b]BOLD[/b] [on red]ON[/]", "VAR", (), ("[b]BOLD[/b]",),
            shown="[$accent]VAR[/] [b]BOLD[/b] [on red]ON[/]"),
    Payload("unicode_ok", "naïve 中文 🙂 עברית tab\there", "naïve 中文 🙂 עברית", (),
            shown="naïve 中文 🙂 עברית tab\there"),
    # Escapes of two or three characters (ESC, intermediates 0x20-0x2F, a final 0x30-0x7E):
    # removed whole, or their last characters would show as debris ("CHAR(BSET").
    Payload("charset_select", f"CHAR{ESC}(BSET", "CHARSET", ("(B",), shown="CHARSET"),
    Payload("save_cursor", f"SAVE{ESC}7CURSOR", "SAVECURSOR", ("SAVE7",), shown="SAVECURSOR"),
    Payload("restore_cursor", f"RESTORE{ESC}8CURSOR", "RESTORECURSOR", ("RESTORE8",), shown="RESTORECURSOR"),
    Payload("screen_alignment_test", f"ALIGN{ESC}#8TEST", "ALIGNTEST", ("#8",), shown="ALIGNTEST"),
    Payload("keypad_application", f"KEYPAD{ESC}=APP", "KEYPADAPP", ("=APP",), shown="KEYPADAPP"),
    Payload("keypad_numeric", f"KEYPAD{ESC}>NUM", "KEYPADNUM", (">NUM",), shown="KEYPADNUM"),
    Payload("full_reset", f"FULL{ESC}cRESET", "FULLRESET", ("FULLc",), shown="FULLRESET"),
    Payload("utf8_select", f"UTF{ESC}%GEIGHT", "UTFEIGHT", ("%G",), shown="UTFEIGHT"),
    Payload("lone_esc", f"LONE{ESC}", "LONE", (), shown="LONE"),
    # Last: an unterminated OSC swallows everything after it (as a terminal would).
    Payload("unterminated_osc", f"CUT{ESC}]0;never terminated title", "CUT", ("never terminated",), shown="CUT"),
]

BY_NAME = {payload.name: payload for payload in PAYLOADS}

# Everything in one string (markers stay distinct), for tests that send one answer.
ALL_IN_ONE = " | ".join(payload.text for payload in PAYLOADS)
ALL_MARKERS = [payload.marker for payload in PAYLOADS]
ALL_FORBIDDEN = [f for payload in PAYLOADS for f in payload.forbidden]
ALL_LITERAL = [lit for payload in PAYLOADS for lit in payload.literal]

# A megabyte with no newline: must not hang or crash anything.
HUGE_LINE = "A" * 999_999 + "Z"

# Bytes that are not UTF-8, as a server might put them on the wire.
INVALID_UTF8 = b"BAD\xff\xfe\xc3(\xed\xa0\x80BYTES"


def assert_inert(shown: str, *, where: str = "output", markers: list[str] | None = None) -> None:
    """``shown`` holds no terminal control, no live payload part, and every marker."""
    for control in TERMINAL_CONTROLS:
        assert control not in shown, f"{where} contains {control!r}"
    for bidi in BIDI_CONTROLS:
        assert bidi not in shown, f"{where} contains bidi control U+{ord(bidi):04X}"
    for forbidden in ALL_FORBIDDEN:
        assert forbidden not in shown, f"{where} contains live payload part {forbidden!r}"
    for marker in ALL_MARKERS if markers is None else markers:
        assert marker in shown, f"{where} lost the readable text {marker!r}"
