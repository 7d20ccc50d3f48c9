"""An app written the way the official SDK's README teaches, on our package.

The official README's examples (a Flask app, a function without steps, a
function with ``step.run`` in a loop with arguments, an async function, and
sending events with ``send_sync``/``send``) use exactly the calls below; the
only change an app needs is the import lines:

    import inngest                 ->  import inngest_proto as inngest
    import inngest.flask           ->  import inngest_frameworks.flask

The examples fetch people and ships from a public API; with no network here
``lookup`` plays that API.
"""

from __future__ import annotations

import flask

import inngest_frameworks.flask
import inngest_proto as inngest

PEOPLE = {
    1: {"name": "Luke Skywalker", "starships": ["ships/12", "ships/22"]},
}
SHIPS = {"ships/12": {"name": "X-wing"}, "ships/22": {"name": "Imperial shuttle"}}


def lookup(kind: str, key: object) -> dict[str, object]:
    table: dict[object, dict[str, object]] = PEOPLE if kind == "people" else SHIPS  # type: ignore[assignment]
    return dict(table[key])


inngest_client = inngest.Inngest(app_id="flask_example", is_production=False)


@inngest_client.create_function(
    fn_id="find_person",
    trigger=inngest.TriggerEvent(event="app/person.find"),
)
def fetch_person(ctx: inngest.ContextSync) -> dict[str, object]:
    return lookup("people", ctx.event.data["person_id"])


@inngest_client.create_function(
    fn_id="find_ships",
    trigger=inngest.TriggerEvent(event="app/ships.find"),
)
def fetch_ships(ctx: inngest.ContextSync) -> dict[str, object]:
    person_id = ctx.event.data["person_id"]
    person = ctx.step.run("fetch_person", lambda: lookup("people", person_id))
    ship_names = []
    for ship_url in person["starships"]:  # type: ignore[attr-defined]
        ship = ctx.step.run("fetch_ship", lookup, "ships", ship_url)
        ship_names.append(ship["name"])
    return {"person_name": person["name"], "ship_names": ship_names}


@inngest_client.create_function(
    fn_id="find_person_async",
    trigger=inngest.TriggerEvent(event="app/person.find.async"),
)
async def fetch_person_async(ctx: inngest.Context) -> dict[str, object]:
    return lookup("people", ctx.event.data["person_id"])


app = flask.Flask(__name__)

inngest_frameworks.flask.serve(
    app,
    inngest_client,
    [fetch_person, fetch_ships, fetch_person_async],
)
