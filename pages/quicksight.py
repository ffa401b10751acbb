"""QuickSight: embed the configured dashboards (aws), or list what would be embedded (local)."""

from __future__ import annotations

import streamlit as st
import streamlit.components.v1 as components

from core.app import i18n
from pages._shared import get_services, show_error, through_router, tr

through_router()
i18n.register(
    {
        "quicksight.title": ("QuickSight", "QuickSight"),
        "quicksight.none": (
            "QuickSight のダッシュボードは設定されていません。埋め込むには FACEGATE_QUICKSIGHT_DASHBOARDS に"
            "ダッシュボード ID を（カンマ区切りで）設定してください。同じグラフは「分析」ページで見られます。",
            "No QuickSight dashboards are configured. To embed some, set FACEGATE_QUICKSIGHT_DASHBOARDS to their ids "
            "(comma-separated). The Analytics page shows the same charts.",
        ),
        "quicksight.local": (
            "ローカル環境には QuickSight がないため埋め込みません。AWS 環境では次のダッシュボードを埋め込みます:",
            "The local world has no QuickSight, so nothing is embedded. In the aws world these dashboards are "
            "embedded:",
        ),
        "quicksight.native": ("同じグラフを「分析」ページで見る", "See the same charts on the Analytics page"),
        "quicksight.dashboard": ("ダッシュボード {id}", "Dashboard {id}"),
        "quicksight.renew": ("再読み込み（新しい URL）", "Reload (new URL)"),
        "quicksight.expires": (
            "埋め込み URL は 5 分以内に一度だけ使えます。期限切れの URL は自動で更新します。",
            "An embed URL works once within 5 minutes; expired URLs are renewed automatically.",
        ),
        "quicksight.problem.access_denied": ("権限がありません", "Not allowed"),
        "quicksight.problem.no_subscription": ("QuickSight を契約していません", "No QuickSight subscription"),
        "quicksight.problem.enterprise_needed": ("Enterprise エディションが必要です", "Enterprise edition needed"),
        "quicksight.problem.pricing_plan": ("料金プランが対応していません", "Pricing plan does not allow this"),
        "quicksight.problem.user_not_found": ("QuickSight ユーザーが見つかりません", "QuickSight user not found"),
        "quicksight.problem.not_found": ("ダッシュボードが見つかりません", "Dashboard not found"),
        "quicksight.problem.no_user": ("埋め込むユーザーが未設定です", "No embedding user configured"),
        "quicksight.problem.no_account": ("AWS アカウント ID が未設定です", "AWS account id not configured"),
        "quicksight.problem.throttled": ("混み合っています", "Throttled"),
        "quicksight.problem.unavailable": ("QuickSight に接続できません", "QuickSight unavailable"),
        "quicksight.problem.invalid": ("要求が拒否されました", "Request refused"),
        "quicksight.problem.local_world": ("ローカル環境", "Local world"),
    }
)


def _native_link() -> None:
    try:
        st.page_link("pages/analytics.py", label=tr("quicksight.native"), icon="📊")
    except Exception:  # noqa: BLE001 - page not in the navigation (single-page runs)
        st.markdown(f"[{tr('quicksight.native')}](/analytics)")


def main() -> None:
    st.title(tr("quicksight.title"))
    try:
        qs = get_services().quicksight
    except Exception as exc:  # noqa: BLE001 - shown in the user's language
        show_error(exc)
        st.stop()
    ids = qs.configured() if qs is not None else []
    if not ids:
        st.info(tr("quicksight.none"))
        _native_link()
        return
    if get_services().settings.backend != "aws":
        st.info(tr("quicksight.local"))
        for dashboard_id in ids:
            st.markdown(f"- `{dashboard_id}`")
        _native_link()
        return

    st.caption(tr("quicksight.expires"))
    cache = st.session_state.setdefault("quicksight_embeds", {})
    for dashboard_id in ids:
        st.subheader(tr("quicksight.dashboard", id=dashboard_id))
        if st.button(tr("quicksight.renew"), key=f"qs_renew_{dashboard_id}"):
            cache.pop(dashboard_id, None)
        embed = cache.get(dashboard_id)
        # A URL is shown once: renew it when it expired or was already put into a page.
        embed = qs.embed(dashboard_id) if embed is None else qs.renew(embed)
        cache[dashboard_id] = embed
        if embed.url:
            components.iframe(embed.url, height=720, scrolling=True)
        else:
            title = tr(f"quicksight.problem.{embed.problem_code}")
            st.warning(f"**{title}** — {embed.problem}", icon="⚠️")
    _native_link()


main()
