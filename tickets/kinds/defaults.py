"""The kinds, boards, message templates and follow-up policies cstrack ships with.

Facts (kinds, fields, choices, deadlines) come from the contact-centre guides in shared/seeds;
the wording is ours. Installed by a data migration; afterwards they are data an administrator
edits in the admin.
"""

from datetime import time


def _f(name, label, type_, required=False, **extra):
    return {"name": name, "label": label, "type": type_, "required": required, **extra}


def _choices(*pairs):
    return [list(p) for p in pairs]


BOARDS = [
    # code, name, team
    ("pet-cs", "[운영] 펫 CS 대응", "펫 운영팀"),
    ("penalty-koc", "[운영] 대리 CS 대응 - KOC 페널티 요청", "대리 운영팀 (KOC)"),
    ("penalty-gwangju", "[운영] 대리 CS 대응 - 광주 KMCC 페널티 요청", "대리 운영팀 (광주 KMCC)"),
    ("compensation", "보상 요구 담당부서", "고객 보상 담당"),
    ("parking-pass", "[운영] 주차 정기권 등록 요청", "주차 운영팀"),
    ("business-kd", "[운영] 비즈니스 이관 (KD)", "비즈니스팀"),
]

PENALTY_OUTCOMES = _choices(
    ("warning", "경고"),
    ("suspension", "활동 정지"),
    ("dispatch_restriction", "배차 제한"),
    ("re_education", "재교육"),
    ("no_action", "조치 없음 (관리자 컨펌 후 페널티 미작성)"),
)
PENALTY_APPLIED = ["warning", "suspension", "dispatch_restriction", "re_education"]

# Seed 003: who is calling decides the path. A manager or operator registered in the business
# system is sent to the business line in business hours and transferred (named assignee) outside
# them; a personal-profile member is called back by the business team; a company-profile member
# not registered is pointed to their company's administrator; a non-member asking to sign up is
# transferred (intro e-mail, then an outbound call in business hours: see POLICIES).
BUSINESS_CALLER_FIELD = _f(
    "caller_type",
    "문의하신 분",
    "choice",
    True,
    choices=_choices(
        ("registered_admin", "관리시스템에 등록된 관리책임자·운영담당자"),
        ("personal_profile", "개인용 프로필 회원"),
        ("business_profile", "기업용 프로필 회원 (관리시스템 미등록)"),
        ("prospect", "비즈니스 미가입 (가입·도입 문의)"),
    ),
    help="먼저 비즈니스 관리시스템에 등록된 관리책임자·운영담당자인지 여쭤 주세요.",
)
BUSINESS_CALLER_ROUTING = {
    "field": "caller_type",
    "routes": {
        "registered_admin": {"in_hours": "business_line", "after_hours": "business_team"},
        "personal_profile": {"in_hours": "business_team", "after_hours": "business_team"},
        "business_profile": {"in_hours": "company_admin", "after_hours": "company_admin"},
        "prospect": {"in_hours": "business_team", "after_hours": "business_team"},
    },
    "assignee_after_hours": ["business_team"],
}

KINDS = [
    {
        "code": "pet-cs-inquiry",
        "name": "펫 CS 문의",
        "service_line": "pet",
        "board": "pet-cs",
        "category_path": "펫 > CS 문의",
        "description": "상담 중 바로 확인·처리하기 어려운 펫 서비스 문의를 담당자에게 넘깁니다.",
        "schema": {
            "fields": [
                _f(
                    "issue_type",
                    "문의 구분",
                    "choice",
                    True,
                    choices=_choices(
                        ("payment", "결제 문제"),
                        ("app_error", "앱 오류 확인 요청"),
                        ("inconvenience", "이용 불편"),
                        ("mishandling", "오처리"),
                        ("other", "기타"),
                    ),
                ),
                _f(
                    "description",
                    "확인한 내용",
                    "textarea",
                    True,
                    help="담당자가 바로 파악할 수 있도록 탐색한 내용을 자세히 적어 주세요.",
                ),
                _f("reboot_tried", "재부팅/재설치 시도", "bool"),
                _f("device_model", "휴대폰 기종", "text", max_length=60),
                _f("os_version", "OS 버전", "text", max_length=30),
                _f("carrier", "통신사", "text", max_length=30),
                _f("app_version", "앱 버전", "text", max_length=30),
                _f(
                    "network",
                    "문제 발생 네트워크",
                    "choice",
                    choices=_choices(("lte", "LTE"), ("5g", "5G"), ("wifi", "Wi-Fi")),
                ),
                _f("occurred_at", "문제 발생 시점", "datetime"),
            ],
        },
    },
    {
        "code": "pet-partnership-inquiry",
        "name": "펫 서비스 제휴 문의",
        "service_line": "pet",
        "board": "pet-cs",
        "category_path": "펫 > 제휴 문의",
        "description": "제휴 문의를 담당자에게 전달합니다. 연락처는 처리 후 삭제됩니다.",
        "purge_contact_on_close": True,
        "schema": {
            "fields": [
                _f("company_name", "업체명", "text", True, max_length=100),
                _f("inquirer_name", "문의자 이름", "text", True, max_length=50, personal=True),
                _f("contact_phone", "연락받을 전화번호", "phone"),
                _f("contact_email", "연락받을 이메일", "email"),
                _f("inquiry", "제휴 문의 내용", "textarea", True),
            ],
            "rules": [{"rule": "at_least_one", "fields": ["contact_phone", "contact_email"]}],
        },
    },
    {
        "code": "mate-sales-statement",
        "name": "펫 메이트 매출내역 발급 요청",
        "service_line": "pet",
        "board": "pet-cs",
        "category_path": "펫 > 메이트 > 매출내역",
        "default_requester_type": "mate",
        "description": "펫 메이트의 매출내역 발급 요청입니다. 파일은 암호화해 보내고 처리 후 삭제합니다.",
        "delete_attachments_on_completion": True,
        "schema": {
            "fields": [
                _f("request_detail", "요청 내용", "textarea", True),
                _f("period_start", "조회 시작일", "date", True),
                _f("period_end", "조회 종료일", "date", True),
                _f("email", "받을 이메일", "email", True),
            ],
            "rules": [{"rule": "date_order", "start": "period_start", "end": "period_end"}],
            "required_refs": ["driver_id"],
        },
    },
    {
        "code": "pet-cancel-penalty-exemption",
        "name": "펫 예약 취소 페널티 면제",
        "service_line": "pet",
        "board": "pet-cs",
        "category_path": "펫 > 메이트 > 예약 취소 페널티",
        "default_requester_type": "mate",
        "description": "예약 취소 페널티 면제 대상 취합, 또는 즉시 해제 요청입니다.",
        "schema": {
            "fields": [
                _f(
                    "request_type",
                    "요청 구분",
                    "choice",
                    True,
                    choices=_choices(("collect", "면제 대상 취합"), ("immediate_release", "즉시 해제")),
                ),
                _f("cancel_requested_on", "취소 요청일", "date", required_when={"request_type": "collect"}),
                _f("board_received_on", "게시판 접수일", "date", required_when={"request_type": "immediate_release"}),
                _f("appeal_reason", "소명 사유", "textarea", True),
            ],
            "required_refs": ["driver_id"],
        },
    },
    {
        "code": "pet-mate-membership",
        "name": "펫 메이트 가입·정보변경·보험",
        "service_line": "pet",
        "board": "pet-cs",
        "category_path": "펫 > 메이트 > 가입/정보변경/보험",
        "default_requester_type": "mate",
        "description": "펫 메이트 가입·탈퇴, 가입비·키트 환불, 지자체 실사, 정보 변경, 보험 문의입니다.",
        "schema": {
            "fields": [
                _f(
                    "topic",
                    "문의 구분",
                    "choice",
                    True,
                    choices=_choices(
                        ("signup_withdrawal", "가입/탈퇴"),
                        ("fee_kit_refund", "가입비·키트 환불"),
                        ("municipal_inspection", "지자체 실사 중 문의"),
                        ("info_change", "정보 변경"),
                        ("insurance", "보험"),
                    ),
                ),
                _f(
                    "change_item",
                    "변경 항목",
                    "choice",
                    required_when={"topic": "info_change"},
                    choices=_choices(
                        ("name", "이름"),
                        ("license", "자격증 정보"),
                        ("phone", "휴대폰 번호"),
                        ("vehicle", "차량"),
                        ("other", "기타"),
                    ),
                ),
                _f(
                    "procedure_explained",
                    "변경 절차 안내 완료",
                    "bool",
                    required_when={"change_item": ["phone", "vehicle"]},
                    must_be_true=True,
                    help="휴대폰 번호는 보험사 변경이 먼저, 차량은 등록증 제출·보험 재가입·동물운송업 등록증 재발급 순서입니다.",
                ),
                _f("description", "문의 내용", "textarea", True),
            ],
        },
    },
    {
        "code": "pet-custom-driver",
        "name": "맞춤기사(비공개 예약팀) 문의",
        "service_line": "pet",
        "board": "pet-cs",
        "category_path": "펫 > 메이트 > 맞춤기사",
        "default_requester_type": "mate",
        "description": "비공개 예약팀 가입·탈퇴 요청과 그 밖의 맞춤기사 문의입니다. 공개 예약팀은 센터에서 직접 처리합니다.",
        "schema": {
            "fields": [
                _f(
                    "request",
                    "요청 구분",
                    "choice",
                    True,
                    choices=_choices(
                        ("join", "비공개 예약팀 가입"), ("leave", "비공개 예약팀 탈퇴"), ("other", "기타 맞춤기사 문의")
                    ),
                ),
                _f("team_name", "예약팀 이름", "text", required_when={"request": ["join", "leave"]}, max_length=100),
                _f("description", "내용", "textarea"),
            ],
            "required_refs": ["driver_id"],
        },
    },
    {
        "code": "pet-record-issuance",
        "name": "운행·이용기록 발급",
        "service_line": "pet",
        "board": "pet-cs",
        "category_path": "펫 > 운행/이용기록 발급",
        "description": "사법기관·지자체 제출용 운행/이용기록 발급 요청입니다. 관리자 컨펌 후 발급하며 운행내역은 1년간 보관됩니다.",
        "requires_manager_confirmation": True,
        "retention_days": 365,
        "delete_attachments_on_completion": True,
        "outcomes": _choices(("issued", "발급 완료"), ("refused", "발급 불가")),
        "schema": {
            "fields": [
                _f(
                    "requester_role",
                    "요청자 구분",
                    "choice",
                    True,
                    choices=_choices(("mate", "펫 메이트"), ("passenger", "승객")),
                ),
                _f(
                    "record_type",
                    "발급 유형",
                    "choice",
                    True,
                    choices=_choices(("ride_record", "운행기록"), ("usage_record", "이용기록")),
                ),
                _f("period_start", "기간 시작", "date", True),
                _f("period_end", "기간 종료", "date", True),
                _f("reason", "발급 요청 사유", "textarea", True, help="예: 사법기관 제출, 지자체 제출"),
                _f(
                    "email",
                    "발급받을 이메일",
                    "email",
                    True,
                    help="새로 수집하는 정보이므로 개인정보 수집 동의가 필요합니다.",
                ),
            ],
            "rules": [{"rule": "date_order", "start": "period_start", "end": "period_end"}],
            "required_refs": ["member_id"],
        },
    },
    {
        "code": "driver-penalty-request",
        "name": "대리 기사 페널티 요청",
        "service_line": "driver",
        "board": "penalty-koc",
        "category_path": "대리_고객 > 이용불편/신고 > 콜취소/Noshow",
        "description": "기사 관련 신고를 운영 관리자에게 전달합니다. 고객이 결과 회신을 원하면 D+3에 문자로 알립니다.",
        "outcomes": PENALTY_OUTCOMES,
        "outcomes_needing_reason": ["no_action"],
        "behaviours": {
            "route_by_field": {
                "field": "penalty_board",
                "boards": {"koc": "penalty-koc", "gwangju_kmcc": "penalty-gwangju"},
            },
            "driver_block": {"field": "driver_blocked"},
            "penalty_history": {},
        },
        "schema": {
            "fields": [
                _f(
                    "penalty_board",
                    "접수 게시판",
                    "choice",
                    True,
                    choices=_choices(("koc", "KOC"), ("gwangju_kmcc", "광주 KMCC")),
                ),
                _f(
                    "call_type",
                    "콜 구분",
                    "choice",
                    True,
                    choices=_choices(
                        ("own_normal", "자사콜(일반)"),
                        ("own_vip", "자사콜(VIP)"),
                        ("partner", "제휴콜"),
                        ("consigned", "위탁콜"),
                        ("reservation", "예약콜"),
                        ("other", "기타"),
                    ),
                ),
                _f(
                    "violation",
                    "위반 항목",
                    "choice",
                    True,
                    choices=_choices(
                        ("no_show", "배정 후 일방 취소/노쇼"),
                        ("cash_demand", "현금 요구"),
                        ("parking_refusal", "주차 거부"),
                        ("abandonment", "임의 이탈"),
                        ("suspected_drunk", "음주 의심"),
                        ("unserved_payment_cancel", "미운행 결제 취소"),
                        ("abuse", "고객·고객센터 욕설"),
                        ("reckless_driving", "난폭 운전"),
                        ("unsafe_driving", "안전운전 미준수"),
                        ("other", "기타"),
                    ),
                ),
                _f("incident_date", "이용(발생) 일자", "date", True),
                _f("description", "신고 내용", "textarea", True),
                _f("driver_blocked", "기사 차단 설정함", "bool"),
                _f("feedback_requested", "고객이 조치 결과 회신 요청", "bool"),
            ],
            "required_refs": ["driver_id"],
        },
    },
    {
        "code": "driver-compensation-demand",
        "name": "보상 요구 담당부서 이관",
        "service_line": "driver",
        "board": "compensation",
        "category_path": "대리_고객 > 이용불편/신고 > 보상 요구",
        "description": "안내 후에도 보상이나 상급자 연결을 원하면 담당부서가 1~2영업일 안에 고객에게 전화합니다.",
        "outcomes": _choices(("called_back", "회신 전화 완료"), ("unreachable", "연락 불가")),
        "behaviours": {"callback_number_needs_phone": {"field": "callback_number", "value": "other"}},
        "schema": {
            "fields": [
                _f("demand", "요구 내용", "textarea", True),
                _f(
                    "callback_number",
                    "회신 받을 번호",
                    "choice",
                    True,
                    choices=_choices(
                        ("registered", "카카오 T 계정 등록 번호"), ("other", "다른 번호 (수집 동의 필요)")
                    ),
                ),
                _f("incident_date", "이용(발생) 일자", "date"),
            ],
        },
    },
    {
        "code": "parking-season-pass-registration",
        "name": "주차 정기권 차량 등록 요청",
        "service_line": "parking",
        "board": "parking-pass",
        "category_path": "주차_고객 > 서비스 이용/정책 > 정기권 문의 > 정기권 미적용",
        "description": "정기권 차량이 일반 차량으로 인식된 경우 운영사 등록을 요청하고, 등록이 확인되면 고객에게 문자로 알립니다.",
        "outcomes": _choices(("registered", "등록 확인"), ("not_registrable", "등록 불가")),
        "behaviours": {"registration_message": {"outcomes": ["registered"]}, "season_pass_compensation": {}},
        "schema": {
            "fields": [
                _f(
                    "pass_link",
                    "정기권 구분",
                    "choice",
                    True,
                    choices=_choices(("linked", "연동"), ("unlinked", "비연동")),
                ),
                _f(
                    "cause",
                    "원인",
                    "choice",
                    True,
                    choices=_choices(
                        ("operator_missing", "운영사 정기권 등록 누락"),
                        ("equipment_lpr", "설비 이슈/LPR 오인식"),
                        ("unknown", "확인 중"),
                    ),
                ),
                _f("occurred_on", "발생일", "date", True),
                _f(
                    "exit_handling",
                    "출차 처리",
                    "choice",
                    True,
                    choices=_choices(
                        ("call_button", "출차부 호출 버튼 안내"),
                        ("site_ob", "현장 주차장 출차 요청(OB)"),
                        ("already_exited", "이미 출차"),
                        ("not_leaving", "출차 예정 없음"),
                    ),
                ),
                _f("onsite_payment", "현장 결제 발생", "bool"),
                _f(
                    "onsite_payment_amount",
                    "현장 결제 금액(원)",
                    "int",
                    required_when={"onsite_payment": True},
                    min=0,
                    max=10_000_000,
                ),
                _f("receipt_attached", "결제 영수증 첨부", "bool"),
                _f("payment_cancel_requested", "현장 결제 취소 요청", "bool"),
                _f("pass_paid_amount", "정기권 결제액(원)", "int", min=0, max=10_000_000),
                _f("pass_usable_days", "정기권 이용 가능 일수", "int", min=1, max=366),
                _f("pass_used_days", "실제 이용 일수", "int", min=0, max=366),
            ],
            "required_refs": ["vehicle_plate", "parking_lot"],
        },
    },
    {
        "code": "business-transfer",
        "name": "비즈니스 이관",
        "service_line": "business",
        "board": "business-kd",
        "category_path": "비즈니스 > 기타 > 이관 > 이관",
        "default_requester_type": "business",
        "description": "문의하신 분과 업무 시간에 따라 전용 상담센터 안내, 비즈니스팀 이관, 소속 기업 관리자 안내 중 하나로 처리합니다. 상담 기록은 3년 보관합니다.",
        "retention_days": 365 * 3,
        "outcomes": _choices(("handled", "비즈니스팀 처리 완료"), ("directed_to_line", "전용 상담센터 안내로 종결")),
        "behaviours": {"business_hours_routing": BUSINESS_CALLER_ROUTING},
        "schema": {
            "fields": [
                BUSINESS_CALLER_FIELD,
                _f(
                    "transfer_type",
                    "이관 유형",
                    "choice",
                    True,
                    choices=_choices(
                        ("admin_settings", "관리자 문의 (상품 설정·한도·정산·임직원 초대)"),
                        ("receivables", "미수금 문의 (이용료·수수료)"),
                        ("record_problem", "이용 후 기록·내역·정산 문제"),
                        ("usage_data_request", "이용 기록·자료 요청"),
                        ("traffic_charge_docs", "교통유발부담금 서류 요청"),
                        ("signup", "가입 문의 (소개서 메일 발송)"),
                        ("enterprise_contact", "기업 상품 이용·본사 담당자 연결"),
                        ("personal_profile_records", "개인 프로필 이용기록 메일 발송"),
                        ("pc_web_taxi", "PC 웹 택시 호출 가입·설정"),
                    ),
                ),
                _f("company_name", "기업명", "text", True, max_length=100),
                _f("contact_person", "담당자 이름", "text", True, max_length=50),
                _f("contact_email", "담당자 이메일", "email", required_when={"transfer_type": "signup"}),
                _f("inquiry", "문의 내용", "textarea", True),
            ],
        },
    },
]

TEMPLATES = [
    # code, name, channel, subject, body
    (
        "penalty-feedback-sms",
        "페널티 조치 결과 안내 (D+3)",
        "sms",
        "",
        "[카카오 T 고객센터] {incident_date}에 신고하신 대리 기사에게 내부 기준에 따른 조치를 마쳤습니다. "
        "앞으로 해당 기사는 고객님께 배정되지 않습니다. 불편을 드려 죄송하며, 알려주셔서 감사합니다.",
    ),
    (
        "season-pass-registered-sms",
        "정기권 차량 등록 완료 안내",
        "sms",
        "",
        "[카카오 T 주차] {parking_lot} 정기권에 차량 {vehicle_plate} 등록이 확인되었습니다. 이용에 불편을 드려 죄송합니다.",
    ),
    (
        "business-intro-email",
        "비즈니스 가입 소개 메일",
        "email",
        "카카오 T 비즈니스 가입 안내",
        "안녕하세요. 카카오 T 비즈니스에 관심을 가져 주셔서 감사합니다.\n"
        "요청하신 가입 소개 자료를 보내 드립니다. 담당자가 업무 시간 중에 다시 연락드리겠습니다.\n접수 번호: {reference}",
    ),
    (
        "owner-reminder",
        "담당자 리마인드",
        "email",
        "[cstrack] {reference} 회신 기한 알림",
        "{reference} ({kind_name}) 건의 고객 회신 기한은 {promised_by}입니다. 처리 상황을 확인해 주세요.\n{ticket_url}",
    ),
    (
        "supervisor-breach-alert",
        "기한 위반 관리자 알림",
        "email",
        "[cstrack] {reference} 기한 위반",
        "{board_name}의 {reference} ({kind_name}) 건이 약속한 기한 {due_at}을 넘겼습니다. 확인이 필요합니다.\n{ticket_url}",
    ),
]

BUSINESS_DAY_START = time(9, 0)
D3_SEND_TIME = time(10, 0)

POLICIES = [
    # Penalty request with feedback: SMS on D+3 once an outcome that applied a penalty exists.
    {
        "code": "penalty-feedback-d3-sms",
        "name": "페널티 결과 D+3 고객 문자",
        "kind": "driver-penalty-request",
        "trigger": "ticket_received",
        "action": "customer_message",
        "template": "penalty-feedback-sms",
        "timing": "d_plus",
        "timing_n": 3,
        "timing_time": D3_SEND_TIME,
        "conditions": {"details": {"feedback_requested": True}, "hold_until_outcome_in": PENALTY_APPLIED},
    },
    {
        "code": "penalty-feedback-d3-breach",
        "name": "D+3까지 결과 미기록 시 관리자 알림",
        "kind": "driver-penalty-request",
        "trigger": "ticket_received",
        "action": "alert_supervisor",
        "template": "supervisor-breach-alert",
        "timing": "d_plus",
        "timing_n": 3,
        "timing_time": D3_SEND_TIME,
        "marks_breach": True,
        "conditions": {
            "details": {"feedback_requested": True},
            "skip_if_outcome": True,
            "skip_if_status": ["closed", "cancelled"],
        },
    },
    # A re-contact about any pending ticket: call back within 1-2 business days.
    {
        "code": "recontact-callback",
        "name": "재인입 회신 전화 (1~2영업일)",
        "kind": None,
        "trigger": "recontact_logged",
        "action": "call_back",
        "timing": "end_of_business_day",
        "timing_n": 2,
    },
    {
        "code": "recontact-remind-owner",
        "name": "재인입 회신 담당자 리마인드",
        "kind": None,
        "trigger": "recontact_logged",
        "action": "remind_owner",
        "template": "owner-reminder",
        "timing": "start_of_business_day",
        "timing_n": 1,
        "conditions": {"skip_if_callbacks_done": True, "skip_if_status": ["closed", "cancelled"]},
    },
    {
        "code": "recontact-breach",
        "name": "재인입 회신 기한 위반 알림",
        "kind": None,
        "trigger": "recontact_logged",
        "action": "alert_supervisor",
        "template": "supervisor-breach-alert",
        "timing": "end_of_business_day",
        "timing_n": 2,
        "marks_breach": True,
        "conditions": {"skip_if_callbacks_done": True, "skip_if_status": ["closed", "cancelled"]},
    },
    # Compensation demand: the department calls the customer back within 1-2 business days.
    {
        "code": "compensation-callback",
        "name": "보상 요구 담당부서 회신 전화",
        "kind": "driver-compensation-demand",
        "trigger": "ticket_received",
        "action": "call_back",
        "timing": "end_of_business_day",
        "timing_n": 2,
    },
    {
        "code": "compensation-remind",
        "name": "보상 요구 회신 리마인드",
        "kind": "driver-compensation-demand",
        "trigger": "ticket_received",
        "action": "remind_owner",
        "template": "owner-reminder",
        "timing": "start_of_business_day",
        "timing_n": 1,
        "conditions": {"skip_if_callbacks_done": True, "skip_if_status": ["closed", "cancelled"]},
    },
    {
        "code": "compensation-breach",
        "name": "보상 요구 회신 기한 위반 알림",
        "kind": "driver-compensation-demand",
        "trigger": "ticket_received",
        "action": "alert_supervisor",
        "template": "supervisor-breach-alert",
        "timing": "end_of_business_day",
        "timing_n": 2,
        "marks_breach": True,
        "conditions": {"skip_if_callbacks_done": True, "skip_if_status": ["closed", "cancelled"]},
    },
    # Season pass: message as soon as registration is confirmed; breach if not confirmed by the
    # end of the first business day (the operator usually registers the same or next day).
    {
        "code": "season-pass-registered-sms",
        "name": "정기권 등록 확인 고객 문자",
        "kind": "parking-season-pass-registration",
        "trigger": "registration_confirmed",
        "action": "customer_message",
        "template": "season-pass-registered-sms",
        "timing": "immediate",
    },
    {
        "code": "season-pass-breach",
        "name": "정기권 등록 1영업일 내 미확인 알림",
        "kind": "parking-season-pass-registration",
        "trigger": "ticket_received",
        "action": "alert_supervisor",
        "template": "supervisor-breach-alert",
        "timing": "end_of_business_day",
        "timing_n": 1,
        "marks_breach": True,
        "conditions": {"skip_if_outcome": True, "skip_if_status": ["closed", "cancelled"]},
    },
    # Business sign-up: intro e-mail at once, then an outbound call in business hours.
    {
        "code": "business-signup-intro",
        "name": "비즈니스 가입 소개 메일",
        "kind": "business-transfer",
        "trigger": "ticket_received",
        "action": "customer_message",
        "template": "business-intro-email",
        "timing": "immediate",
        "conditions": {"details": {"transfer_type": "signup"}},
    },
    {
        "code": "business-signup-call",
        "name": "비즈니스 가입 안내 전화 (업무 시간)",
        "kind": "business-transfer",
        "trigger": "ticket_received",
        "action": "call_back",
        "timing": "end_of_business_day",
        "timing_n": 1,
        "conditions": {"details": {"transfer_type": "signup"}},
    },
    {
        "code": "business-signup-call-breach",
        "name": "비즈니스 가입 안내 전화 기한 위반 알림",
        "kind": "business-transfer",
        "trigger": "ticket_received",
        "action": "alert_supervisor",
        "template": "supervisor-breach-alert",
        "timing": "end_of_business_day",
        "timing_n": 1,
        "marks_breach": True,
        "conditions": {
            "details": {"transfer_type": "signup"},
            "skip_if_callbacks_done": True,
            "skip_if_status": ["closed", "cancelled"],
        },
    },
    # Business: a personal-profile member's inquiry goes to the business team, who call back.
    {
        "code": "business-team-callback",
        "name": "비즈니스팀 회신 전화 (개인 프로필 회원)",
        "kind": "business-transfer",
        "trigger": "ticket_received",
        "action": "call_back",
        "timing": "end_of_business_day",
        "timing_n": 2,
        "conditions": {"details": {"caller_type": "personal_profile"}},
    },
    {
        "code": "business-team-callback-breach",
        "name": "비즈니스팀 회신 기한 위반 알림",
        "kind": "business-transfer",
        "trigger": "ticket_received",
        "action": "alert_supervisor",
        "template": "supervisor-breach-alert",
        "timing": "end_of_business_day",
        "timing_n": 2,
        "marks_breach": True,
        "conditions": {
            "details": {"caller_type": "personal_profile"},
            "skip_if_callbacks_done": True,
            "skip_if_status": ["closed", "cancelled"],
        },
    },
    # Record issuance: supervisor alert if not completed within 2 business days.
    {
        "code": "record-issuance-breach",
        "name": "기록 발급 2영업일 내 미완료 알림",
        "kind": "pet-record-issuance",
        "trigger": "ticket_received",
        "action": "alert_supervisor",
        "template": "supervisor-breach-alert",
        "timing": "end_of_business_day",
        "timing_n": 2,
        "marks_breach": True,
        "conditions": {"skip_if_status": ["action_taken", "resolved", "closed", "cancelled"]},
    },
]


def install(apps):
    """Create or update the defaults (used by the data migration; idempotent)."""
    Board = apps.get_model("tickets", "Board")
    TicketKind = apps.get_model("tickets", "TicketKind")
    TicketKindSchema = apps.get_model("tickets", "TicketKindSchema")
    FollowUpPolicy = apps.get_model("tickets", "FollowUpPolicy")
    MessageTemplate = apps.get_model("notifications", "MessageTemplate")

    boards = {}
    for code, name, team in BOARDS:
        boards[code], _ = Board.objects.update_or_create(code=code, defaults={"name": name, "team": team})
    kinds = {}
    for order, spec in enumerate(KINDS):
        fields = {k: v for k, v in spec.items() if k not in {"code", "board"}}
        # An early migration runs this with a historical model: leave out fields added since.
        known = {f.name for f in TicketKind._meta.get_fields()}
        fields = {k: v for k, v in fields.items() if k in known}
        fields["default_board"] = boards[spec["board"]]
        fields["sort_order"] = order
        kind, _ = TicketKind.objects.update_or_create(code=spec["code"], defaults=fields)
        if not TicketKindSchema.objects.filter(kind=kind).exists():
            TicketKindSchema.objects.create(kind=kind, version=1, schema=spec["schema"])
        kinds[spec["code"]] = kind
    templates = {}
    for code, name, channel, subject, body in TEMPLATES:
        templates[code], _ = MessageTemplate.objects.update_or_create(
            code=code, defaults={"name": name, "channel": channel, "subject": subject, "body": body}
        )
    for spec in POLICIES:
        fields = dict(spec)
        code = fields.pop("code")
        fields["kind"] = kinds[spec["kind"]] if spec["kind"] else None
        fields["template"] = templates[spec["template"]] if spec.get("template") else None
        FollowUpPolicy.objects.update_or_create(code=code, defaults=fields)


def install_business_caller_routing(apps):
    """Seed 003 on a database installed before it: the business-transfer kind asks who is
    calling (a new schema version), routes by it, and gets the new follow-up policies."""
    TicketKind = apps.get_model("tickets", "TicketKind")
    TicketKindSchema = apps.get_model("tickets", "TicketKindSchema")
    FollowUpPolicy = apps.get_model("tickets", "FollowUpPolicy")
    MessageTemplate = apps.get_model("notifications", "MessageTemplate")
    spec = next(k for k in KINDS if k["code"] == "business-transfer")
    kind = TicketKind.objects.filter(code=spec["code"]).first()
    if kind is None:
        return
    latest = TicketKindSchema.objects.filter(kind=kind).order_by("-version").first()
    if latest is not None and "caller_type" not in {f.get("name") for f in latest.schema.get("fields", [])}:
        schema = {**latest.schema, "fields": [BUSINESS_CALLER_FIELD, *latest.schema["fields"]]}
        TicketKindSchema.objects.create(kind=kind, version=latest.version + 1, schema=schema)
    routing = kind.behaviours.get("business_hours_routing") if isinstance(kind.behaviours, dict) else None
    if not routing or "field" not in routing:  # the clock-only routing shipped before
        kind.behaviours = {**(kind.behaviours or {}), "business_hours_routing": BUSINESS_CALLER_ROUTING}
        kind.save(update_fields=["behaviours"])
    for policy in POLICIES:
        if policy["kind"] != spec["code"] or FollowUpPolicy.objects.filter(code=policy["code"]).exists():
            continue
        fields = {k: v for k, v in policy.items() if k not in {"code", "kind", "template"}}
        template = (
            MessageTemplate.objects.filter(code=policy.get("template")).first() if policy.get("template") else None
        )
        FollowUpPolicy.objects.create(code=policy["code"], kind=kind, template=template, **fields)


def install_behaviours(apps):
    """Give the seed kinds their behaviours and default requester type where an administrator has
    not set them yet (for databases installed before kinds carried them)."""
    TicketKind = apps.get_model("tickets", "TicketKind")
    for spec in KINDS:
        kind = TicketKind.objects.filter(code=spec["code"]).first()
        if kind is None:
            continue
        if not kind.behaviours and spec.get("behaviours"):
            kind.behaviours = spec["behaviours"]
        kind.default_requester_type = spec.get("default_requester_type", "customer")
        kind.save(update_fields=["behaviours", "default_requester_type"])
