"""A minimal Streamlit websocket client for benchmarks: one real session over the same
protocol a browser speaks (protobuf ``BackMsg`` up, ``ForwardMsg`` down), without a browser.

It sends what the frontend sends: a rerun with the widget states (text typed, a button
pressed), and the fragment reruns that ``st.fragment(run_every=...)`` asks for
(``auto_rerun``: the browser's timer, reproduced here). Widgets are found by their key (the
element id ends with it). It does not draw anything: it measures the server, not a browser.
"""

from __future__ import annotations

import asyncio
from typing import Any

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState


class StreamlitSession:
    def __init__(self, port: int) -> None:
        self.port = port
        self.ws: Any = None
        self.page_hash = ""
        self.ids: dict[str, str] = {}  # widget key -> element id
        self.fragment_of: dict[str, str] = {}  # widget key -> its fragment id ("" if none)
        self.values: dict[str, WidgetState] = {}  # element id -> last value sent
        self.texts: list[str] = []  # st.text bodies of the latest run
        self.auto: dict[str, float] = {}  # fragment id -> rerun interval (s)
        self._finished = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/_stcore/stream",
            subprotocols=[websockets.Subprotocol("streamlit")],
            max_size=None,
        )
        self._reader = asyncio.create_task(self._read())
        await self.rerun()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.ws.close()

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = msg.new_session.page_script_hash
            elif kind == "delta":
                self._delta(msg)
            elif kind == "auto_rerun":
                self.auto[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "stop_auto_rerun":
                self.auto.clear()
            elif (
                kind == "script_finished"
                and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN
            ):
                # A run cut short by st.rerun() is followed by the real one: wait for that.
                self._finished.set()

    def _delta(self, msg: ForwardMsg) -> None:
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        which = element.WhichOneof("type")
        if which == "text":
            self.texts.append(element.text.body)
            return
        widget = getattr(element, which, None) if which else None
        element_id = getattr(widget, "id", "")
        if element_id.startswith("$$ID-"):
            key = element_id.split("-", 2)[2]
            self.ids[key] = element_id
            self.fragment_of[key] = delta.fragment_id

    async def rerun(
        self,
        *,
        set_text: dict[str, str] | None = None,
        press: str | None = None,
        fragment_id: str = "",
        auto: bool = False,
    ) -> None:
        """Send one rerun and wait until the server says the script (or fragment) finished."""
        for key, value in (set_text or {}).items():
            state = WidgetState(id=self.ids[key], string_value=value)
            self.values[state.id] = state
        states = list(self.values.values())
        if press is not None:
            states.append(WidgetState(id=self.ids[press], trigger_value=True))
            fragment_id = fragment_id or self.fragment_of.get(press, "")
        back = BackMsg()
        back.rerun_script.query_string = ""
        back.rerun_script.page_script_hash = self.page_hash
        back.rerun_script.fragment_id = fragment_id
        back.rerun_script.is_auto_rerun = auto
        back.rerun_script.widget_states.widgets.extend(states)
        if not fragment_id:
            self.texts = []
        self._finished.clear()
        await self.ws.send(back.SerializeToString())
        await asyncio.wait_for(self._finished.wait(), timeout=120)

    async def tick(self) -> None:
        """What the browser's ``run_every`` timer does: rerun each live fragment."""
        for fragment_id in list(self.auto):
            await self.rerun(fragment_id=fragment_id, auto=True)
