"""The console's form adapter: its inputs' text becomes the JSON types the service validates."""

from django.http import QueryDict

from tickets.console.forms import details_from_post

SCHEMA = {
    "fields": [
        {"name": "days", "type": "int"},
        {"name": "paid", "type": "bool"},
        {"name": "note", "type": "text"},
        {"name": "empty", "type": "int"},
    ]
}


def test_number_and_checkbox_inputs_become_json_types():
    post = QueryDict("details.days=3&details.paid=on&details.note=12&details.empty=")
    assert details_from_post(SCHEMA, post) == {"days": 3, "paid": True, "note": "12"}


def test_text_in_a_number_input_is_passed_on_for_the_service_to_refuse():
    assert details_from_post(SCHEMA, QueryDict("details.days=셋")) == {"days": "셋"}
