import pytest

from cstrack.pii import mask_name


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("홍길동", "홍*동"),
        ("남궁민수", "남**수"),
        ("김철", "김*"),
        ("이", "*"),
        ("", ""),
        (None, ""),
        ("  박지민 ", "박*민"),
    ],
)
def test_mask_name_keeps_only_the_first_and_last_character(name, masked):
    assert mask_name(name) == masked
