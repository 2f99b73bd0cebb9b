"""Season-pass compensation rules, as pure functions (shown on the ticket, used by services).

Coupon: 3,000 KRW when a customer's pass vehicle is not recognised for the 2nd time (or more)
in one calendar month because the operator left it unregistered; at most one coupon per
customer per month; equipment / LPR misrecognition closes without a coupon.

Refund (consumer-protection rule): paid − paid / usable_days × used_days. The deduction is
rounded DOWN to whole won (the customer never loses a fraction of a won), so the refund is
paid − floor(paid × used_days / usable_days).
"""

from dataclasses import dataclass

COUPON_KRW = 3_000
COUPON_FROM_OCCURRENCE = 2
NO_COUPON_CAUSES = {"equipment_lpr"}


@dataclass(frozen=True)
class CouponStatus:
    eligible: bool
    reason: str
    occurrences_this_month: int = 0
    amount_krw: int = 0


def coupon_status(*, cause: str, occurrences_this_month: int, coupons_this_month: int) -> CouponStatus:
    """`occurrences_this_month` counts this one too."""
    if cause in NO_COUPON_CAUSES:
        return CouponStatus(False, "설비/LPR 오인식은 쿠폰 없이 종결합니다.", occurrences_this_month)
    if cause != "operator_missing":
        return CouponStatus(False, "운영사 등록 누락으로 확인된 경우에만 쿠폰을 드립니다.", occurrences_this_month)
    if coupons_this_month >= 1:
        return CouponStatus(False, "이번 달에 이미 쿠폰을 드렸습니다 (월 1회).", occurrences_this_month)
    if occurrences_this_month < COUPON_FROM_OCCURRENCE:
        return CouponStatus(
            False, f"이번 달 {occurrences_this_month}회차입니다. 2회차부터 쿠폰 대상입니다.", occurrences_this_month
        )
    return CouponStatus(
        True,
        f"이번 달 {occurrences_this_month}회차: {COUPON_KRW:,}원 쿠폰 대상입니다.",
        occurrences_this_month,
        COUPON_KRW,
    )


def refund_amount(*, paid: int, usable_days: int, used_days: int) -> int:
    if paid < 0 or usable_days <= 0 or used_days < 0:
        raise ValueError("paid >= 0, usable_days > 0 and used_days >= 0 are required")
    used_days = min(used_days, usable_days)
    return paid - (paid * used_days) // usable_days
