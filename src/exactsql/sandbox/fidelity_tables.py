"""Non-nullable properties of Exact's entities: numbers and flags that come back as 0 or false, never null.

Keyed by entity type name (the last part of ``__metadata.type``). Sources (sandbox-fidelity.md §4): the
properties that the official .NET SDK's models (generated from Exact's metadata) declare without ``?``
(Boolean, Byte, Int16, Int32, Int64 and Double), and those that its recorded responses fill with 0 or false
(Account, GLAccount, SalesInvoice and SalesInvoiceLine). Keys and ``Division`` are left out: they always
have a value.
"""

from __future__ import annotations

NOT_NULL: dict[str, str] = {
    "AbsenceRegistration": "EmployeeHID",
    "AbsenceRegistrationTransaction": "Status",
    "AcceptQuotation": "Action InvoiceJournal",
    "Account": (
        "Blocked CanDropShip ConsolidationScenario CostPaid CreditLinePurchase CreditLineSales "
        "DiscountPurchase DiscountSales IgnoreDatevWarningMessage InvoiceAttachmentType "
        "InvoicingMethod IsAccountant IsAgency IsAnonymised IsBank IsCompetitor IsMailing IsMember "
        "IsPilot IsPurchase IsReseller IsSales IsSupplier PurchaseLeadDays RecepientOfCommissions "
        "SecurityLevel SeparateInvPerProject SeparateInvPerSubscription ShippingLeadDays"
    ),
    "AccountClassificationName": "SequenceNumber",
    "AgingPayablesList": "AgeGroup1 AgeGroup2 AgeGroup3 AgeGroup4",
    "AgingReceivablesList": "AgeGroup1 AgeGroup2 AgeGroup3 AgeGroup4",
    "AssemblyOrder": "FinishedQuantity OrderNumber OrderStatus PlannedQuantity",
    "BillOfMaterialVersion": "IsDefault",
    "ByProductReceipt": "HasReversibleQuantity IsBackflush",
    "ByProductReversal": "IsBackflush",
    "Contact": "AccountIsCustomer IsAnonymised",
    "CostTransaction": "SkipValidation",
    "DivisionClassName": "SequenceNr",
    "DocumentTypeFolder": "DocumentType",
    "DocumentsAttachment": "AttachmentFileSize CanShowInWebView",
    "Employee": "IsActive IsAnonymised",
    "EmploymentInternalRate": "EmployeeHID EmploymentHID",
    "GLAccount": (
        "Compress ExcludeVATListing ExpenseNonDeductiblePercentage IsBlocked Matching "
        "PrivatePercentage RevalueCurrency Type UseCostcenter UseCostunit VATNonDeductiblePercentage"
    ),
    "GoodsReceiptLine": "LineNumber PurchaseOrderNumber",
    "Item": (
        "CopyRemarks IsBatchItem IsBatchNumberItem IsMakeItem IsNewContract IsOnDemandItem "
        "IsRegistrationCodeItem IsTime IsWebshopItem"
    ),
    "ItemAssortment": "Code",
    "ItemAssortmentProperty": "ItemAssortmentCode",
    "ItemExtraField": "Number",
    "ItemGroup": "IsDefault",
    "ItemVersion": "IsDefault",
    "ItemWarehousePlanningDetail": "PlannedQuantity",
    "ItemWarehouseStorageLocation": "IsFractionAllowedItem",
    "JournalStatusList": "JournalType Period Status Year",
    "LeaveBuildUpRegistration": "EmployeeHID Status",
    "LeaveRegistration": "EmployeeHID Status",
    "MailMessageAttachment": "FileSize Type",
    "ManufacturingSetting": (
        "InventoryMainMethod InventorySubMethod NegativeStockIsAllowed SerialNumbersAreMandatory "
        "ShowBackflushMaterials ShowSubOrderMaterials"
    ),
    "MaterialIssue": "HasReversibleQuantity",
    "MaterialReversal": "IsBackflush",
    "Me": "CurrentDivision Legislation",
    "OpportunityContact": "AccountIsCustomer IsAnonymised",
    "PayablesList": "EntryNumber InvoiceNumber",
    "Payment": "Source",
    "PrintQuotation": "SendEmailToCustomer",
    "ProductionArea": "IsDefault",
    "ProfitLossOverview": "CurrentPeriod PreviousYear PreviousYearPeriod",
    "Project": "InvoiceAsQuoted",
    "PurchaseEntry": "Type",
    "PurchaseInvoice": "Source Status Type",
    "PurchaseInvoiceLine": "LineNumber",
    "Quotation": "AmountDC AmountFC QuotationNumber VersionNumber",
    "QuotationLine": "AmountDC AmountFC LineNumber QuotationNumber VersionNumber",
    "Receivable": "Source",
    "ReceivablesList": "EntryNumber InvoiceNumber",
    "RecentCost": (
        "AmountApproved AmountDraft AmountRejected AmountSubmitted QuantityApproved QuantityDraft "
        "QuantityRejected QuantitySubmitted WeekNumber"
    ),
    "RecentHour": (
        "HoursApproved HoursApprovedBillable HoursDraft HoursDraftBillable HoursRejected "
        "HoursRejectedBillable HoursSubmitted HoursSubmittedBillable WeekNumber"
    ),
    "RequestAttachment": "FileSize",
    "Return": "Period Status Type Year",
    "RevenueList": "Period Year",
    "SalesEntry": "AmountDC AmountFC Reversal Type",
    "SalesEntryLine": "AmountDC AmountFC",
    "SalesInvoice": "AmountDC AmountFC OrderNumber Status Type VATAmountDC VATAmountFC",
    "SalesInvoiceLine": (
        "AmountDC AmountFC Discount LineNumber NetPrice Quantity UnitPrice VATAmountDC VATAmountFC "
        "VATPercentage"
    ),
    "SalesOrder": "ApprovalStatus OrderNumber",
    "SalesOrderLine": "LineNumber OrderNumber",
    "SalesPriceListDetail": "EntryMethod",
    "ShopOrder": (
        "IsBatch IsFractionAllowedItem IsInPlanning IsOnHold IsReleased IsSerial ProductionLeadDays "
        "SalesOrderLineCount ShopOrderByProductPlanBackflushCount ShopOrderByProductPlanCount "
        "ShopOrderMaterialPlanBackflushCount ShopOrderMaterialPlanCount ShopOrderRoutingStepPlanCount "
        "SubShopOrderCount"
    ),
    "ShopOrderReceipt": "HasReversibleQuantity IsIssueToParent",
    "SolutionLink": "SolutionType Status",
    "StageForDeliveryReceipt": "HasReversibleQuantity IsBatch IsFractionAllowedItem IsSerial",
    "StageForDeliveryReversal": "IsBatch IsFractionAllowedItem IsSerial",
    "SubOrderReceipt": "HasReversibleQuantity",
    "Subscription": "Number",
    "SubscriptionLine": "LineNumber",
    "SubscriptionRestrictionEmployee": "SubscriptionNumber",
    "SubscriptionRestrictionItem": "SubscriptionNumber",
    "SupplierItem": "CopyRemarks",
    "TimeAndBillingProjectDetail": "Type",
    "TimedTimeTransaction": (
        "ShopOrderRoutingStepPlanRemainingRunHours ShopOrderRoutingStepPlanRemainingSetupHours"
    ),
    "TransactionLine": "LineType Type",
    "User": "StartDivision",
    "UserRole": "Role RoleLevel",
    "UserRolesPerDivision": "Role RoleLevel",
    "VatPercentage": "Type",
    "Warehouse": "Main UseStorageLocations",
    "WarehouseTransfer": "Status",
    "Workcenter": "IsLaborBurdenPercent",
}
