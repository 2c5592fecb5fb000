"""Provider dashboard CSV exports → records; bad files are rejected whole with the physical line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connectors.errors import PayloadError
from connectors.provider_exports import (
    parse_anthropic_cost_export,
    parse_anthropic_usage_export,
    parse_export,
    parse_openai_cost_export,
    parse_openai_usage_export,
)
from connectors.records import CostRecord, UsageRecord

OPENAI_USAGE_HEADER = (
    "start_time,end_time,start_time_iso,end_time_iso,project_id,num_model_requests,user_id,api_key_id,model,"
    "batch,service_tier,input_tokens,output_tokens,input_cached_tokens,input_uncached_tokens,input_text_tokens,"
    "output_text_tokens,input_cached_text_tokens,input_audio_tokens,input_cached_audio_tokens,output_audio_tokens,"
    "input_image_tokens,input_cached_image_tokens,output_image_tokens"
)
OPENAI_USAGE = f"""{OPENAI_USAGE_HEADER}
1759622400,1759708800,2025-10-05T00:00:00+00:00,2025-10-06T00:00:00+00:00,proj_A,10.0,user-1,key_1,gpt-4o-2024-08-06,FALSE,default,59200.0,10646.0,5760.0,53440.0,53440.0,10646.0,5760.0,0.0,0.0,0.0,0.0,0.0,0.0
1759708800,1759795200,2025-10-06T00:00:00+00:00,2025-10-07T00:00:00+00:00,proj_A,8.0,user-1,key_1,gpt-5-2025-08-07,FALSE,default,46264.0,60000.0,8192.0,38072.0,38072.0,60000.0,8192.0,0.0,0.0,0.0,0.0,0.0,0.0
1759708800,1759795200,2025-10-06T00:00:00+00:00,2025-10-07T00:00:00+00:00,proj_A,1.0,user-1,key_1,gpt-5-2025-08-07,FALSE,flex,5783.0,16000.0,0.0,5783.0,5783.0,16000.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0
1759881600,1759968000,2025-10-08T00:00:00+00:00,2025-10-09T00:00:00+00:00,,,,,,,,,,,,,,,,,,,,
"""

OPENAI_COSTS_HEADER = (
    "start_time,end_time,start_time_iso,end_time_iso,amount_value,amount_currency,line_item,project_id,"
    "organization_id,organization_name"
)
DAY_5 = "1759622400,1759708800,2025-10-05T00:00:00+00:00,2025-10-06T00:00:00+00:00"
DAY_6 = "1759708800,1759795200,2025-10-06T00:00:00+00:00,2025-10-07T00:00:00+00:00"
DAY_9 = "1759968000,1760054400,2025-10-09T00:00:00+00:00,2025-10-10T00:00:00+00:00"
OPENAI_COSTS = "\n".join(
    [
        OPENAI_COSTS_HEADER,
        f'{DAY_5},0.8958740000000000,usd,"gpt-4o, input",proj_A,org-1,Personal',
        f'{DAY_5},0.1041260000000000,usd,"gpt-4o, output",proj_A,org-1,Personal',
        f"{DAY_6},0.5617712500000000,usd,,proj_B,org-1,Personal",
        f"{DAY_9},,,,,,",
        "",
    ]
)

ANTHROPIC_USAGE_HEADER = (
    "usage_date_utc,model_version,api_key,workspace,usage_type,context_window,usage_input_tokens_no_cache,"
    "usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,"
    "usage_output_tokens,web_search_count,inference_geo,speed"
)
HAIKU = "claude-haiku-4-5-20251001"
ANTHROPIC_USAGE = "\n".join(
    [
        ANTHROPIC_USAGE_HEADER,
        f"2026-03-31 02:00,{HAIKU},acme-prod,Production,standard,≤ 200k,1124832,100,0,5000,254558,0,not_available,",
        f"2026-03-31 03:00,{HAIKU},acme-prod,Production,standard,≤ 200k,506280,0,20,0,117816,3,not_available,",
        "2026-03-31,claude-sonnet-4-20250514,internal-evals,Default,standard,≤ 200k,100000,0,0,0,5000,10,us,",
        "",
    ]
)

ANTHROPIC_COSTS = "\n".join(
    [
        "usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd,list_price_usd,"
        "cost_type,inference_geo,speed",
        "2026-08-04,Claude Haiku 4.5,Default,demo-key,message,≤ 200k,input_no_cache,0.05,0.05,token,not_available,",
        "2026-08-04,Claude Haiku 4.5,Default,demo-key,message,≤ 200k,output,0.02,0.02,token,not_available,",
        "2026-08-04,Claude Sonnet 4.5,Production,other-key,message,≤ 200k,input_cache_read,0.10,1.00,token,us,",
        "2026-08-05,,Production,other-key,web_search,,,1.55,1.55,web_search,,",
        "",
    ]
)


def test_openai_usage_export_follows_the_token_convention_and_sums_shared_keys():
    records = parse_openai_usage_export(OPENAI_USAGE)
    assert records == [
        UsageRecord(
            provider="openai",
            day=date(2025, 10, 5),
            model="gpt-4o-2024-08-06",
            api_key_id="key_1",
            project_id="proj_A",
            user_id="user-1",
            input_tokens=59_200 - 5_760,
            cached_input_tokens=5_760,
            output_tokens=10_646,
            requests=10,
        ),
        # two service tiers of one model and key on one day share a natural key: summed
        UsageRecord(
            provider="openai",
            day=date(2025, 10, 6),
            model="gpt-5-2025-08-07",
            api_key_id="key_1",
            project_id="proj_A",
            user_id="user-1",
            input_tokens=38_072 + 5_783,
            cached_input_tokens=8_192,
            output_tokens=76_000,
            requests=9,
        ),
    ]


def test_openai_cost_export_sums_line_items_per_day_and_project_exactly():
    assert parse_openai_cost_export(OPENAI_COSTS) == [
        CostRecord(
            provider="openai", day=date(2025, 10, 5), amount_usd=Decimal("1.0000000000000000"), project_id="proj_A"
        ),
        CostRecord(
            provider="openai", day=date(2025, 10, 6), amount_usd=Decimal("0.5617712500000000"), project_id="proj_B"
        ),
    ]


def test_openai_cost_export_in_another_currency_is_rejected():
    text = OPENAI_COSTS.replace("0.5617712500000000,usd", "0.56,eur")
    with pytest.raises(PayloadError, match=r"^csv openai cost export, line 4: column amount_currency: 'eur'"):
        parse_openai_cost_export(text)


def test_anthropic_usage_export_sums_hours_into_days_and_maps_names_to_ids():
    records = parse_anthropic_usage_export(
        ANTHROPIC_USAGE,
        key_ids={"acme-prod": "apikey_01CZW9VFf8mdmQryMURnUgWP"},
        workspace_ids={"Production": "wrkspc_019qZb2qN23gNmdC2z9jfJq1"},
    )
    assert records == [
        UsageRecord(
            provider="anthropic",
            day=date(2026, 3, 31),
            model="claude-haiku-4-5-20251001",
            api_key_id="apikey_01CZW9VFf8mdmQryMURnUgWP",
            project_id="wrkspc_019qZb2qN23gNmdC2z9jfJq1",
            input_tokens=1_124_832 + 506_280,
            cached_input_tokens=5_000,
            cache_write_tokens=120,
            cache_write_1h_tokens=20,
            output_tokens=254_558 + 117_816,
            web_search_requests=3,
        ),
        # an unmapped key keeps its name; the Default workspace is "" like the API's null
        UsageRecord(
            provider="anthropic",
            day=date(2026, 3, 31),
            model="claude-sonnet-4-20250514",
            api_key_id="internal-evals",
            project_id="",
            input_tokens=100_000,
            output_tokens=5_000,
            web_search_requests=10,
        ),
    ]


def test_older_anthropic_usage_export_without_the_cache_split():
    text = (
        "usage_date_utc,model_version,api_key,workspace,usage_type,usage_input_tokens_no_cache,"
        "usage_input_tokens_cache_write,usage_input_tokens_cache_read,usage_output_tokens\n"
        "2025-06-12,claude-3-5-haiku-20241022,claude_code_key_abc,Claude Code,standard,8,4,2,1\n"
    )
    (record,) = parse_anthropic_usage_export(text)
    assert (record.input_tokens, record.cache_write_tokens, record.cache_write_1h_tokens) == (8, 4, 0)
    assert (record.cached_input_tokens, record.output_tokens, record.project_id) == (2, 1, "Claude Code")


def test_anthropic_cost_export_is_summed_per_day_and_workspace_in_dollars():
    assert parse_anthropic_cost_export(ANTHROPIC_COSTS, workspace_ids={"Production": "wrkspc_P"}) == [
        CostRecord(provider="anthropic", day=date(2026, 8, 4), amount_usd=Decimal("0.07")),
        CostRecord(provider="anthropic", day=date(2026, 8, 4), amount_usd=Decimal("0.10"), project_id="wrkspc_P"),
        CostRecord(provider="anthropic", day=date(2026, 8, 5), amount_usd=Decimal("1.55"), project_id="wrkspc_P"),
    ]


@pytest.mark.parametrize(
    ("text", "provider", "usage", "costs"),
    [
        (OPENAI_USAGE, "openai", 2, 0),
        (OPENAI_COSTS, "openai", 0, 2),
        (ANTHROPIC_USAGE, "anthropic", 2, 0),
        ("\ufeff" + ANTHROPIC_COSTS, "anthropic", 0, 3),
    ],
)
def test_parse_export_recognizes_each_export_by_its_header(text, provider, usage, costs):
    fetch = parse_export(text)
    assert (fetch.provider, len(fetch.usage), len(fetch.costs)) == (provider, usage, costs)


def test_an_unknown_header_is_rejected_on_line_1():
    with pytest.raises(PayloadError, match=r"^csv provider export, line 1: not an OpenAI or Anthropic"):
        parse_export("day,provider,model\n2026-01-01,openai,gpt-4o\n")


def test_a_negative_count_rejects_the_file_with_its_line():
    text = ANTHROPIC_USAGE.replace(",117816,", ",-5,")
    with pytest.raises(PayloadError) as raised:
        parse_anthropic_usage_export(text)
    assert str(raised.value) == "csv anthropic usage export, line 3: column usage_output_tokens: '-5' is negative"
    assert raised.value.provider == "csv"


def test_line_numbers_are_physical_lines_past_a_multiline_cell():
    lines = OPENAI_COSTS.splitlines()
    # line 2's quoted line item spans two physical lines, so the bad row after it is on line 4
    lines[1] = lines[1].replace('"gpt-4o, input"', '"gpt-4o,\ninput"')
    lines[2] = lines[2].replace("0.1041260000000000", "0.10.4")
    with pytest.raises(PayloadError, match=r"line 4: column amount_value: '0\.10\.4' is not a decimal number"):
        parse_openai_cost_export("\n".join(lines) + "\n")


def test_a_fractional_token_count_is_rejected():
    text = OPENAI_USAGE.replace("59200.0", "59200.5")
    with pytest.raises(PayloadError, match=r"line 2: column input_tokens: '59200\.5' is not a whole number"):
        parse_openai_usage_export(text)


def test_a_missing_required_column_is_named_on_line_1():
    text = ANTHROPIC_USAGE.replace("usage_output_tokens", "usage_out")
    with pytest.raises(PayloadError, match="line 1: missing column usage_output_tokens"):
        parse_anthropic_usage_export(text)


def test_a_row_with_too_few_fields_is_rejected():
    text = ANTHROPIC_COSTS + "2026-08-06,Claude Haiku 4.5,Default\n"
    with pytest.raises(PayloadError, match="line 6: has 3 fields, the header has 12"):
        parse_anthropic_cost_export(text)


def test_a_bad_date_is_rejected():
    text = ANTHROPIC_COSTS.replace("2026-08-05", "05/08/2026")
    with pytest.raises(PayloadError, match=r"line 5: column usage_date_utc: '05/08/2026' is not a date"):
        parse_anthropic_cost_export(text)


def test_an_empty_file_is_rejected():
    with pytest.raises(PayloadError, match="line 1: the file is empty"):
        parse_openai_usage_export("")
