"""Command palette entries (Ctrl+P): the app's main actions, findable by name.

Besides the fixed actions, one "Use profile NAME" entry per profile in config.toml
(``[profiles.NAME]``): the chat goes on with that backend and options for the session.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from thinkpane.tui.core.sanitize import sanitize_line
from thinkpane.tui.widgets.listed_commands import Entry, ListedCommands

if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp


class ThinkpaneCommands(ListedCommands):
    def entries(self) -> list[Entry]:
        from thinkpane.tui.core.profiles import profile_names, profile_summary  # when the palette opens

        app = cast("ThinkpaneApp", self.app)
        saved_to = "a download in your browser" if app.is_web else "a file in the current directory"
        return [
            ("New chat", "Start a new conversation", app.action_new_chat),
            ("Conversations…", "Open, search, rename or delete saved conversations", app.action_conversations),
            ("Compare…", "Ask two to four profiles the same question; reasoning and answers side by side",
             app.action_compare),
            ("Set up a backend…", "Choose and configure the model backend", app.action_setup),
            ("Toggle reasoning", "Show or hide the Reasoning pane", app.action_toggle_reasoning),
            ("Toggle thinking", "Turn the model's thinking on or off for the next answers",
             app.chat.action_toggle_thinking),
            ("Cycle reasoning effort", "Step the effort for the next answers: default, low, medium, high, max",
             app.chat.action_cycle_effort),
            ("Regenerate answer", "Ask the current answer's prompt again; the old answer is kept beside it",
             partial(app.chat.run_action, "regenerate")),
            ("Regenerate with another model…", "Pick a backend or model, then regenerate the current answer",
             app.action_regenerate_with),
            ("Edit and resend prompt", "Edit the current answer's prompt; it is sent as a new version",
             partial(app.chat.run_action, "edit_prompt")),
            ("Switch backend or model…", "Go on with another backend or model in this chat",
             app.action_switch_model),
            ("Previous version of the answer", "Show the previous version (‹) of the current answer",
             partial(app.chat.run_action, "step_answer_version(-1)")),
            ("Next version of the answer", "Show the next version (›) of the current answer",
             partial(app.chat.run_action, "step_answer_version(1)")),
            ("Previous version of the prompt", "Show the previous version (‹) of the current prompt",
             partial(app.chat.run_action, "step_prompt_version(-1)")),
            ("Next version of the prompt", "Show the next version (›) of the current prompt",
             partial(app.chat.run_action, "step_prompt_version(1)")),
            ("Copy last answer", "Copy the last answer to the clipboard", app.action_copy_last_answer),
            ("Copy a code block…", "Copy a code block of the last answer to the clipboard",
             app.action_copy_code_block),
            ("Export conversation as Markdown", f"Save this conversation as Markdown: {saved_to}",
             partial(app.action_export_conversation, "md")),
            ("Export conversation as JSON", f"Save this conversation as JSON: {saved_to}",
             partial(app.action_export_conversation, "json")),
            *[(f"Use profile {sanitize_line(name)}",
               f"Chat with {sanitize_line(profile_summary(app.settings, name))} for this session",
               partial(app.action_use_profile, name))
              for name in profile_names(app.settings)],
        ]
