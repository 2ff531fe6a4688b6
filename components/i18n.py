"""The UI's text in English and Chinese: one table, switched in the browser by the language preference."""

import reflex as rx

from state.preferences import PreferencesState

# key: (English, 中文)
TEXT: dict[str, tuple[str, str]] = {
    "app.tagline": ("Medical large-model platform", "医疗大模型研发平台"),
    "nav.home": ("Home", "首页"),
    "nav.api_docs": ("API reference", "API 文档"),
    "header.tenant": ("Tenant", "租户"),
    "header.no_tenant": ("No tenant", "暂无租户"),
    "header.language": ("Language", "语言"),
    "header.theme": ("Toggle light/dark theme", "切换明暗主题"),
    "user.guest": ("Not signed in", "未登录"),
    "user.menu": ("Account", "账户"),
    "user.sign_in_soon": ("Sign-in arrives with identity management", "登录功能随身份管理上线"),
    "home.title": ("Platform health", "平台健康"),
    "home.subtitle": (
        "Which backend each component uses and whether it answers, as GET /api/health reports it.",
        "各组件使用的后端及其是否可用，与 GET /api/health 的结果一致。",
    ),
    "home.refresh": ("Check again", "重新检查"),
    "home.checked_at": ("Checked at", "检查时间"),
    "home.overall.ok": ("All components answer", "所有组件运行正常"),
    "home.overall.degraded": ("Some components do not answer", "部分组件无法访问"),
    "home.checking": ("Checking…", "检查中…"),
    "status.ok": ("OK", "正常"),
    "status.down": ("Down", "故障"),
    "status.off": ("Not running here", "未在此进程运行"),
    "component.database": ("Relational database", "关系数据库"),
    "component.cache": ("Cache", "缓存"),
    "component.object_store": ("Object storage", "对象存储"),
    "component.vectors": ("Vector store", "向量库"),
    "component.metrics": ("Metrics store", "指标存储"),
    "component.compute": ("Compute", "计算资源"),
    "component.controller": ("Controller loop", "控制循环"),
    "field.backend": ("Backend", "后端"),
    "field.target": ("Target", "地址"),
    "field.latency": ("Latency", "延迟"),
}


def t(key: str) -> rx.Var:
    """The text for ``key`` in the browser's current language."""
    english, chinese = TEXT[key]
    return rx.cond(PreferencesState.lang == "zh", chinese, english)
